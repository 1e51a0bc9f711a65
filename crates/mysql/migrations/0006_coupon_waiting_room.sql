-- A coupon's waiting room: its mode (OFF, ALWAYS, AUTO) and the order of those who
-- arrive before the opening (FIFO, SHUFFLED). Defaults keep existing coupons as they
-- behaved: AUTO only turns the room on under load.
ALTER TABLE coupons
  ADD COLUMN room_mode VARCHAR(8) NOT NULL DEFAULT 'AUTO',
  ADD COLUMN prequeue VARCHAR(8) NOT NULL DEFAULT 'FIFO';
