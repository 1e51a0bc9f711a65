//! Schemas of request fields built from the domain's own limits (`Username::MAX_CHARS`,
//! `Quantity::MAX`, …), so the document says what the parsers enforce and cannot drift
//! from them. utoipa's attributes take only literals, hence functions (`schema_with`).

use couponrush_domain::listing::{DEFAULT_PAGE, MAX_PAGE};
use couponrush_domain::session::RefreshToken;
use couponrush_domain::waiting_room::RateBounds;
use couponrush_domain::{
    CouponName, CouponStatus, Discount, IdempotencyKey, Password, Quantity, Username,
};
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

fn string(min_chars: usize, max_chars: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min_chars))
        .max_length(Some(max_chars))
        .description(Some(description))
}

fn integer(min: u64, max: u64, format: KnownFormat, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
        .description(Some(description))
}

pub fn username() -> Object {
    string(
        1,
        Username::MAX_CHARS,
        "No control characters, no leading or trailing whitespace.",
    )
    .build()
}

pub fn password() -> Object {
    string(Password::MIN_CHARS, Password::MAX_CHARS, "Any characters.").build()
}

pub fn refresh_token() -> Object {
    let hex_digits = RefreshToken::LEN - RefreshToken::PREFIX.len();
    string(
        RefreshToken::LEN,
        RefreshToken::LEN,
        "The `refreshToken` of a login or refresh answer.",
    )
    .pattern(Some(format!(
        "^{}[0-9a-f]{{{hex_digits}}}$",
        RefreshToken::PREFIX
    )))
    .build()
}

pub fn coupon_name() -> Object {
    string(
        1,
        CouponName::MAX_CHARS,
        "Not blank, no control characters.",
    )
    .build()
}

pub fn discount_value() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1.0))
        .description(Some(format!(
            "FIXED: an amount greater than 0 (minor currency unit); PERCENTAGE: 1 to {}.",
            Discount::MAX_PERCENT
        )))
        .build()
}

pub fn total_quantity() -> Object {
    integer(
        Quantity::MIN,
        Quantity::MAX,
        KnownFormat::Int64,
        "How many coupons may ever be issued.",
    )
    .build()
}

fn statuses(allowed: &[CouponStatus], nullable: bool, description: &str) -> Object {
    let mut types = vec![Type::String];
    let mut values: Vec<serde_json::Value> = allowed.iter().map(|s| s.as_str().into()).collect();
    if nullable {
        types.push(Type::Null);
        values.push(serde_json::Value::Null);
    }
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter(types))
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

pub fn initial_status() -> Object {
    statuses(
        &CouponStatus::AT_CREATION,
        true,
        "Defaults to ACTIVE. EXPIRED is a consequence of time, not a choice.",
    )
}

pub fn target_status() -> Object {
    statuses(&CouponStatus::SWITCHABLE, false, "ACTIVE or DISABLED.")
}

pub fn page_limit() -> Object {
    integer(
        1,
        u64::from(MAX_PAGE),
        KnownFormat::Int64,
        "Coupons per page.",
    )
    .default(Some(DEFAULT_PAGE.into()))
    .build()
}

/// `minRate` / `maxRate`: set together, or both omitted.
pub fn admission_rate() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Number, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .minimum(Some(RateBounds::LOWEST))
        .maximum(Some(RateBounds::HIGHEST))
        .description(Some(
            "Admissions per second; minRate ≤ maxRate, both given or both omitted.",
        ))
        .build()
}

pub fn idempotency_key() -> Object {
    string(
        1,
        IdempotencyKey::MAX_CHARS,
        "Visible ASCII characters, no spaces.",
    )
    .pattern(Some("^[!-~]+$"))
    .build()
}
