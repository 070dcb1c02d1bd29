-- Reserve's Idempotency-Key lives in the booking it made, not in idempotency_keys: a replay is
-- rebuilt from the row (the answer is a pure function of it), so each reservation writes one
-- small index entry instead of a ~700-byte response row in a second, randomly ordered B-tree.
-- The per-user index carries the key, so it serves both the lookup and the user's list.
ALTER TABLE bookings ADD COLUMN idem_key TEXT;
ALTER TABLE bookings ADD COLUMN request_hash TEXT;
DROP INDEX bookings_user;
CREATE INDEX bookings_user ON bookings (user_id, idem_key);
