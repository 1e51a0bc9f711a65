use super::*;
use serde_json::Value;

fn doc() -> Value {
    document()
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            all.push((path.clone(), method.clone(), op.clone()));
        }
    }
    all
}

fn description(doc: &Value, path: &str, method: &str, status: &str) -> Option<String> {
    doc["paths"][path][method]["responses"][status]["description"]
        .as_str()
        .map(str::to_owned)
}

fn documents(doc: &Value, path: &str, method: &str, code: ErrorCode) -> bool {
    let status = code.status().as_u16().to_string();
    description(doc, path, method, &status).is_some_and(|d| mentions(&d, code))
}

#[test]
fn the_error_code_schema_lists_exactly_the_codes_the_server_can_send() {
    // `ErrorBody.code` is an `ErrorCode`, so no other code can leave the server; this
    // pins that the document's enum is that type's (derive and serde agree).
    let doc = doc();
    let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, all);
    assert_eq!(
        doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
}

#[test]
fn every_error_answer_names_its_codes_and_only_codes_of_its_status() {
    let doc = doc();
    let codes: std::collections::HashMap<&str, ErrorCode> =
        ErrorCode::ALL.iter().map(|c| (c.as_str(), *c)).collect();
    for (path, method, op) in operations(&doc) {
        for (status, answer) in op["responses"].as_object().unwrap() {
            let text = answer["description"].as_str().unwrap_or_default();
            let status: u16 = status.parse().unwrap();
            let is_error_body = answer["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/ErrorBody";
            if status < 400 || !is_error_body {
                continue;
            }
            let named: Vec<ErrorCode> = words(text).filter_map(|w| codes.get(w).copied()).collect();
            assert!(
                !named.is_empty(),
                "{method} {path} {status}: no code in {text:?}"
            );
            for code in named {
                assert_eq!(code.status().as_u16(), status, "{method} {path}: {code}");
            }
            // An upper-case word with an underscore is meant as a code: a typo is caught.
            for w in words(text).filter(|w| w.contains('_')) {
                assert!(
                    codes.contains_key(w),
                    "{method} {path} {status}: {w} is no code"
                );
            }
        }
    }
}

#[test]
fn the_common_answers_follow_the_extractors() {
    let doc = doc();
    for (path, method, op) in operations(&doc) {
        let has_param = |place: &str| {
            op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
        };
        let body = !op["requestBody"].is_null();
        for code in [
            ErrorCode::MalformedJson,
            ErrorCode::InvalidBody,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
        ] {
            assert_eq!(
                documents(&doc, &path, &method, code),
                body,
                "{method} {path} {code}"
            );
        }
        assert_eq!(
            documents(&doc, &path, &method, ErrorCode::InvalidPath),
            has_param("path"),
            "{method} {path}"
        );
        let authenticated = op["security"].is_array();
        for code in [
            ErrorCode::Unauthorized,
            ErrorCode::TokenInvalid,
            ErrorCode::TokenExpired,
        ] {
            assert_eq!(
                documents(&doc, &path, &method, code),
                authenticated,
                "{method} {path} {code}"
            );
        }
    }
    assert!(documents(
        &doc,
        "/api/coupons",
        "get",
        ErrorCode::InvalidQuery
    ));
    for (path, method) in [
        ("/api/coupons", "post"),
        ("/api/coupons/{id}/status", "patch"),
        ("/api/admin/coupons/{id}/stats", "get"),
        ("/api/admin/coupons/{id}/waiting-room", "put"),
        ("/api/admin/failed-events", "get"),
    ] {
        assert!(
            documents(&doc, path, method, ErrorCode::Forbidden),
            "{method} {path}"
        );
    }
    for (path, method) in [
        ("/api/coupons", "get"),
        ("/api/coupons/{id}/issue", "post"),
        ("/api/me/coupons", "get"),
    ] {
        assert!(
            !documents(&doc, path, method, ErrorCode::Forbidden),
            "{method} {path}"
        );
    }
}

#[test]
fn every_operation_that_may_wait_documents_server_busy_and_no_other_does() {
    let doc = doc();
    for (path, method) in [
        ("/api/coupons/{id}/issue", "post"),
        ("/api/coupons", "get"),
        ("/api/coupons", "post"),
        ("/api/me/coupons", "get"),
        ("/api/admin/coupons/{id}/stats", "get"),
    ] {
        assert!(
            documents(&doc, path, method, ErrorCode::ServerBusy),
            "{method} {path}"
        );
    }
    let issue = description(&doc, "/api/coupons/{id}/issue", "post", "503").unwrap();
    assert!(issue.contains("ISSUE_UNAVAILABLE"), "kept: {issue}");
    for (path, method) in [
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/api/auth/login", "post"),
        ("/api/users/signup", "post"),
    ] {
        assert!(
            !documents(&doc, path, method, ErrorCode::ServerBusy),
            "{method} {path}"
        );
    }
}

#[test]
fn request_schemas_carry_the_domain_limits() {
    use couponrush_domain::listing::MAX_PAGE;
    use couponrush_domain::waiting_room::RateBounds;
    use couponrush_domain::{CouponName, IdempotencyKey, Password, Quantity, Username};
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let credentials = &schemas["Credentials"]["properties"];
    assert_eq!(credentials["username"]["maxLength"], Username::MAX_CHARS);
    assert_eq!(credentials["password"]["minLength"], Password::MIN_CHARS);
    assert_eq!(credentials["password"]["maxLength"], Password::MAX_CHARS);
    let create = &schemas["CreateCouponRequest"];
    assert_eq!(
        create["properties"]["name"]["maxLength"],
        CouponName::MAX_CHARS
    );
    assert_eq!(create["properties"]["totalQuantity"]["minimum"], 1.0);
    assert_eq!(
        create["properties"]["totalQuantity"]["maximum"],
        Quantity::MAX as f64
    );
    assert_eq!(create["properties"]["discountValue"]["minimum"], 1.0);
    assert_eq!(create["properties"]["expiresAt"]["format"], "date-time");
    assert_eq!(
        create["properties"]["status"]["enum"],
        serde_json::json!(["PENDING", "ACTIVE", "DISABLED", null])
    );
    let required: Vec<&str> = create["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !required.contains(&"status") && required.contains(&"name"),
        "{required:?}"
    );
    assert_eq!(
        schemas["ChangeStatusRequest"]["properties"]["status"]["enum"],
        serde_json::json!(["ACTIVE", "DISABLED"])
    );
    let room = &schemas["ConfigureRoomRequest"]["properties"];
    assert_eq!(room["minRate"]["minimum"], RateBounds::LOWEST);
    assert_eq!(room["maxRate"]["maximum"], RateBounds::HIGHEST);

    let params = |path: &str, method: &str| doc["paths"][path][method]["parameters"].clone();
    let list = params("/api/coupons", "get");
    let limit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["required"], false);
    assert_eq!(limit["schema"]["maximum"], f64::from(MAX_PAGE));
    let issue = params("/api/coupons/{id}/issue", "post");
    let key = issue
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("the header is documented");
    assert_eq!(key["in"], "header");
    assert_eq!(key["required"], false);
    assert_eq!(key["schema"]["maxLength"], IdempotencyKey::MAX_CHARS);
}

#[test]
fn operation_ids_are_unique_and_coupon_links_reach_every_coupon_operation() {
    let doc = doc();
    let mut ids = std::collections::HashSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap().to_owned();
        assert!(ids.insert(id.clone()), "{method} {path}: {id} twice");
    }
    let created = &doc["paths"]["/api/coupons"]["post"]["responses"]["201"]["links"];
    for target in [
        "issueCoupon",
        "useCoupon",
        "getCoupon",
        "configureWaitingRoom",
    ] {
        assert_eq!(created[target]["operationId"], target);
        assert_eq!(created[target]["parameters"]["id"], "$response.body#/id");
        assert!(created[target].get("operation_id").is_none());
    }
    for (source, status, _) in COUPON_ID_SOURCES {
        let found = operations(&doc).into_iter().any(|(_, _, op)| {
            op["operationId"] == source && op["responses"][status]["links"].is_object()
        });
        assert!(found, "{source} {status} has links");
    }
}
