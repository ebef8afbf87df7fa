-- The booking backend's schema.
--
-- Every sellable place is one row of places: a seat, or one anonymous place
-- of a general-admission zone. Holds and sales are conditional UPDATEs of
-- those rows. A place whose hold_expires_at has passed counts as available
-- in every query, so nothing depends on a cleanup job.
--
-- Ids of sections, ticket types, quotas, zones and seats are unique within
-- their event only: every key and reference to them pairs event_id with the
-- id, so two events may share a venue's seat map and its names. Foreign keys
-- that pair event_id with another id keep a row's references inside its own
-- event.
--
-- Times are INTEGER Unix microseconds, UTC; NULL stands for "none" (the
-- zero time). Booleans are INTEGER 0 or 1. Tables are STRICT, so a value of
-- the wrong type is an error. AUTOINCREMENT keeps the id of a removed zone
-- place from being reused, so no old hold item points at another place.

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    venue           TEXT NOT NULL,
    room            TEXT NOT NULL,   -- the waiting room that protects it
    starts_at       INTEGER,
    onsale_from     INTEGER,         -- NULL: no lower bound
    onsale_until    INTEGER,         -- NULL: no upper bound
    status          TEXT NOT NULL CHECK (status IN ('draft', 'onsale', 'closed', 'cancelled')),
    currency        TEXT NOT NULL,
    max_per_order   INTEGER NOT NULL CHECK (max_per_order >= 0), -- 0: no limit
    max_per_account INTEGER NOT NULL CHECK (max_per_account >= 0), -- 0: no limit
    description     TEXT NOT NULL
) STRICT;
CREATE INDEX events_starts_at ON events (starts_at);

CREATE TABLE sections (
    id       TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    name     TEXT NOT NULL,
    position INTEGER NOT NULL,       -- display order
    PRIMARY KEY (event_id, id)
) STRICT;

CREATE TABLE ticket_types (
    id       TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    name     TEXT NOT NULL,
    PRIMARY KEY (event_id, id)
) STRICT;

-- A ticket type's prices in order: the first tier whose end has not come
-- applies, the last when all have ended.
CREATE TABLE price_tiers (
    event_id       TEXT NOT NULL,
    ticket_type_id TEXT NOT NULL,
    position       INTEGER NOT NULL,
    name           TEXT NOT NULL,
    price_cents    INTEGER NOT NULL CHECK (price_cents >= 0),
    until_at       INTEGER,          -- NULL: no time limit
    until_sold     INTEGER NOT NULL CHECK (until_sold >= 0), -- 0: no count limit
    PRIMARY KEY (event_id, ticket_type_id, position),
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id)
) STRICT;

-- Allocations the public cannot take: only a presale code of the quota
-- unlocks its places.
CREATE TABLE quotas (
    id       TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('presale', 'partner', 'vip')),
    PRIMARY KEY (event_id, id)
) STRICT;

-- General-admission areas. capacity is the number of the zone's places.
CREATE TABLE zones (
    id             TEXT NOT NULL,
    event_id       TEXT NOT NULL REFERENCES events (id),
    name           TEXT NOT NULL,
    capacity       INTEGER NOT NULL CHECK (capacity >= 0),
    ticket_type_id TEXT NOT NULL,
    PRIMARY KEY (event_id, id),
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id)
) STRICT;

CREATE TABLE presale_codes (
    event_id TEXT NOT NULL REFERENCES events (id),
    code     TEXT NOT NULL,
    quota_id TEXT NOT NULL,
    max_uses INTEGER NOT NULL CHECK (max_uses >= 0), -- holds made with it; 0: unlimited
    used     INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (event_id, code),
    FOREIGN KEY (event_id, quota_id) REFERENCES quotas (event_id, id)
) STRICT;

CREATE TABLE promo_codes (
    event_id         TEXT NOT NULL REFERENCES events (id),
    code             TEXT NOT NULL,
    percent_off      INTEGER NOT NULL CHECK (percent_off BETWEEN 0 AND 100),
    amount_off_cents INTEGER NOT NULL CHECK (amount_off_cents >= 0),
    max_uses         INTEGER NOT NULL CHECK (max_uses >= 0), -- orders using it; 0: unlimited
    used             INTEGER NOT NULL CHECK (used >= 0), -- failed, expired, cancelled orders give theirs back
    PRIMARY KEY (event_id, code),
    CHECK ((percent_off > 0) <> (amount_off_cents > 0)) -- one kind of discount
) STRICT;

-- Places kept for one fan until expires_at. A hold is used up when it is
-- released or becomes an order.
CREATE TABLE holds (
    id           TEXT PRIMARY KEY,
    event_id     TEXT NOT NULL REFERENCES events (id),
    account      TEXT NOT NULL,      -- account, or "visitor:" and a visitor id
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    released_at  INTEGER,            -- given up, or its order cancelled
    presale_code TEXT,               -- the code used, if any
    quota_id     TEXT,               -- the quota that code unlocked
    order_id     TEXT UNIQUE,        -- the order it became
    currency     TEXT NOT NULL,
    total_cents  INTEGER NOT NULL
) STRICT;
CREATE INDEX holds_account ON holds (event_id, account);

-- A hold's places with the price of each when it was taken. An order's
-- items are its hold's.
CREATE TABLE hold_items (
    hold_id        TEXT NOT NULL REFERENCES holds (id),
    position       INTEGER NOT NULL,
    -- No foreign key: a shrinking zone may remove a place that a lapsed hold
    -- once had. Selling it again then fails, as it should.
    place_id       INTEGER NOT NULL,
    seat_id        TEXT,
    zone_id        TEXT,
    label          TEXT NOT NULL,    -- "Stalls, row C, seat 12", "Standing"
    ticket_type_id TEXT NOT NULL,
    price_cents    INTEGER NOT NULL,
    PRIMARY KEY (hold_id, position)
) STRICT;

CREATE TABLE orders (
    id             TEXT PRIMARY KEY,
    event_id       TEXT NOT NULL REFERENCES events (id),
    hold_id        TEXT NOT NULL UNIQUE REFERENCES holds (id),
    account        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'cancelled')),
    subtotal_cents INTEGER NOT NULL,
    discount_cents INTEGER NOT NULL,
    total_cents    INTEGER NOT NULL CHECK (total_cents >= 0),
    currency       TEXT NOT NULL,
    promo_code     TEXT,
    email          TEXT,             -- where the tickets go; NULL for none
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL, -- its hold's expiry: pay by then
    paid_at        INTEGER,
    paid_by        TEXT,             -- the payment attempt that paid it
    CHECK ((status = 'paid') = (paid_at IS NOT NULL AND paid_by IS NOT NULL))
) STRICT;
CREATE INDEX orders_due ON orders (expires_at) WHERE status = 'pending';
CREATE INDEX orders_account ON orders (event_id, account);

-- Every sellable place. state is what was last written; what a fan sees at
-- a time t is 'held' only while hold_expires_at > t. A seat has seat_id and
-- its position; a zone place only its zone_id. Sold is final in this
-- version: a refund voids the ticket but does not free the place.
CREATE TABLE places (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL REFERENCES events (id),
    kind            TEXT NOT NULL CHECK (kind IN ('seat', 'zone')),
    seat_id         TEXT,
    section_id      TEXT,
    row_label       TEXT,
    seat_number     TEXT,
    x               REAL,            -- position on the seat map
    y               REAL,
    zone_id         TEXT,
    ticket_type_id  TEXT NOT NULL,
    quota_id        TEXT,            -- NULL: for the public
    state           TEXT NOT NULL CHECK (state IN ('available', 'held', 'sold')),
    hold_id         TEXT REFERENCES holds (id),
    hold_expires_at INTEGER,
    order_id        TEXT REFERENCES orders (id), -- the paid order it was sold to
    UNIQUE (event_id, seat_id),      -- zone places (NULL seat_id) never clash
    FOREIGN KEY (event_id, section_id) REFERENCES sections (event_id, id),
    FOREIGN KEY (event_id, zone_id) REFERENCES zones (event_id, id),
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id),
    FOREIGN KEY (event_id, quota_id) REFERENCES quotas (event_id, id),
    CHECK (kind <> 'seat' OR (seat_id IS NOT NULL AND section_id IS NOT NULL AND zone_id IS NULL)),
    CHECK (kind <> 'zone' OR (zone_id IS NOT NULL AND seat_id IS NULL)),
    CHECK (state <> 'held' OR (hold_id IS NOT NULL AND hold_expires_at IS NOT NULL)),
    CHECK ((state = 'sold') = (order_id IS NOT NULL))
) STRICT;
CREATE INDEX places_event ON places (event_id, kind);
CREATE INDEX places_zone ON places (event_id, zone_id, id);
CREATE INDEX places_hold ON places (hold_id);
CREATE INDEX places_order ON places (order_id);
CREATE INDEX places_quota ON places (event_id, quota_id);
CREATE INDEX places_sold ON places (event_id, ticket_type_id) WHERE state = 'sold';
CREATE INDEX places_lapsing ON places (hold_expires_at) WHERE state = 'held';

-- One row per payment attempt; each has its own idempotency key at the
-- provider, so a declined card can be tried again.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    attempt         INTEGER NOT NULL, -- 1, 2, … per order
    idempotency_key TEXT NOT NULL UNIQUE, -- "<order id>:<attempt>"
    provider_ref    TEXT UNIQUE,     -- the provider's id, once known
    status          TEXT NOT NULL CHECK (status IN ('created', 'succeeded', 'failed', 'refunded')),
    amount_cents    INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER,         -- last change of status
    UNIQUE (order_id, attempt)
) STRICT;

-- Tickets exist only for paid orders, one per sold place.
CREATE TABLE tickets (
    id             TEXT PRIMARY KEY,
    order_id       TEXT NOT NULL REFERENCES orders (id),
    event_id       TEXT NOT NULL REFERENCES events (id),
    place_id       INTEGER NOT NULL REFERENCES places (id),
    label          TEXT NOT NULL,
    ticket_type_id TEXT NOT NULL,
    issued_at      INTEGER NOT NULL,
    void           INTEGER NOT NULL CHECK (void IN (0, 1)), -- refunded: admits nobody
    checked_in_at  INTEGER           -- the first scan
) STRICT;
-- A place admits at most one person.
CREATE UNIQUE INDEX tickets_place ON tickets (place_id) WHERE NOT void;
CREATE INDEX tickets_order ON tickets (order_id);
CREATE INDEX tickets_event ON tickets (event_id);

-- Checkout requests already answered, by (account, Idempotency-Key).
CREATE TABLE idempotency_keys (
    account         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    -- No foreign key: this row is written first, before its order, so that
    -- a second request with the key waits on it.
    order_id        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (account, idempotency_key)
) STRICT;

-- Provider notifications, kept once by their id and processed later.
CREATE TABLE webhook_inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order
    provider     TEXT NOT NULL,
    id           TEXT NOT NULL,
    type         TEXT NOT NULL,
    payload      BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    error        TEXT,               -- what processing reported, if it failed
    UNIQUE (provider, id)
) STRICT;
CREATE INDEX webhook_inbox_pending ON webhook_inbox (received_at, seq) WHERE processed_at IS NULL;

-- Side effects to carry out once, written in the transaction that causes
-- them (the tickets e-mail of a paid order).
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE, -- "<kind>:<order id>"
    kind            TEXT NOT NULL,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    payload         BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL, -- failed sends so far; given up at 10
    last_attempt_at INTEGER,
    sent_at         INTEGER
) STRICT;
CREATE INDEX outbox_pending ON outbox (created_at, seq) WHERE sent_at IS NULL;
