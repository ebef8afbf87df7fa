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
-- Times are timestamptz; NULL stands for "none" (the zero time).

CREATE TABLE events (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    venue           text NOT NULL,
    room            text NOT NULL,      -- the waiting room that protects it
    starts_at       timestamptz,
    onsale_from     timestamptz,        -- NULL: no lower bound
    onsale_until    timestamptz,        -- NULL: no upper bound
    status          text NOT NULL CHECK (status IN ('draft', 'onsale', 'closed', 'cancelled')),
    currency        text NOT NULL,
    max_per_order   integer NOT NULL CHECK (max_per_order >= 0),   -- 0: no limit
    max_per_account integer NOT NULL CHECK (max_per_account >= 0), -- 0: no limit
    description     text NOT NULL
);
CREATE INDEX events_starts_at ON events (starts_at);

CREATE TABLE sections (
    id       text NOT NULL,
    event_id text NOT NULL REFERENCES events (id),
    name     text NOT NULL,
    position integer NOT NULL,          -- display order
    PRIMARY KEY (event_id, id)
);

CREATE TABLE ticket_types (
    id       text NOT NULL,
    event_id text NOT NULL REFERENCES events (id),
    name     text NOT NULL,
    PRIMARY KEY (event_id, id)
);

-- A ticket type's prices in order: the first tier whose end has not come
-- applies, the last when all have ended.
CREATE TABLE price_tiers (
    event_id       text NOT NULL,
    ticket_type_id text NOT NULL,
    position       integer NOT NULL,
    name           text NOT NULL,
    price_cents    bigint NOT NULL CHECK (price_cents >= 0),
    until_at       timestamptz,         -- NULL: no time limit
    until_sold     integer NOT NULL CHECK (until_sold >= 0), -- 0: no count limit
    PRIMARY KEY (event_id, ticket_type_id, position),
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id)
);

-- Allocations the public cannot take: only a presale code of the quota
-- unlocks its places.
CREATE TABLE quotas (
    id       text NOT NULL,
    event_id text NOT NULL REFERENCES events (id),
    name     text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('presale', 'partner', 'vip')),
    PRIMARY KEY (event_id, id)
);

-- General-admission areas. capacity is the number of the zone's places.
CREATE TABLE zones (
    id             text NOT NULL,
    event_id       text NOT NULL REFERENCES events (id),
    name           text NOT NULL,
    capacity       integer NOT NULL CHECK (capacity >= 0),
    ticket_type_id text NOT NULL,
    PRIMARY KEY (event_id, id),
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id)
);

CREATE TABLE presale_codes (
    event_id text NOT NULL REFERENCES events (id),
    code     text NOT NULL,
    quota_id text NOT NULL,
    max_uses integer NOT NULL CHECK (max_uses >= 0), -- holds made with it; 0: unlimited
    used     integer NOT NULL CHECK (used >= 0),
    PRIMARY KEY (event_id, code),
    FOREIGN KEY (event_id, quota_id) REFERENCES quotas (event_id, id)
);

CREATE TABLE promo_codes (
    event_id         text NOT NULL REFERENCES events (id),
    code             text NOT NULL,
    percent_off      integer NOT NULL CHECK (percent_off BETWEEN 0 AND 100),
    amount_off_cents bigint NOT NULL CHECK (amount_off_cents >= 0),
    max_uses         integer NOT NULL CHECK (max_uses >= 0), -- orders using it; 0: unlimited
    used             integer NOT NULL CHECK (used >= 0),     -- failed, expired, cancelled orders give theirs back
    PRIMARY KEY (event_id, code),
    CHECK ((percent_off > 0) <> (amount_off_cents > 0))      -- one kind of discount
);

-- Places kept for one fan until expires_at. A hold is used up when it is
-- released or becomes an order.
CREATE TABLE holds (
    id           text PRIMARY KEY,
    event_id     text NOT NULL REFERENCES events (id),
    account      text NOT NULL,         -- account, or "visitor:" and a visitor id
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    released_at  timestamptz,           -- given up, or its order cancelled
    presale_code text,                  -- the code used, if any
    quota_id     text,                  -- the quota that code unlocked
    order_id     text UNIQUE,           -- the order it became
    currency     text NOT NULL,
    total_cents  bigint NOT NULL
);
CREATE INDEX holds_account ON holds (event_id, account);

-- A hold's places with the price of each when it was taken. An order's
-- items are its hold's.
CREATE TABLE hold_items (
    hold_id        text NOT NULL REFERENCES holds (id),
    position       integer NOT NULL,
    -- No foreign key: a shrinking zone may remove a place that a lapsed hold
    -- once had. Selling it again then fails, as it should.
    place_id       bigint NOT NULL,
    seat_id        text,
    zone_id        text,
    label          text NOT NULL,       -- "Stalls, row C, seat 12", "Standing"
    ticket_type_id text NOT NULL,
    price_cents    bigint NOT NULL,
    PRIMARY KEY (hold_id, position)
);

CREATE TABLE orders (
    id             text PRIMARY KEY,
    event_id       text NOT NULL REFERENCES events (id),
    hold_id        text NOT NULL UNIQUE REFERENCES holds (id),
    account        text NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'cancelled')),
    subtotal_cents bigint NOT NULL,
    discount_cents bigint NOT NULL,
    total_cents    bigint NOT NULL CHECK (total_cents >= 0),
    currency       text NOT NULL,
    promo_code     text,
    email          text,                 -- where the tickets go; NULL for none
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL, -- its hold's expiry: pay by then
    paid_at        timestamptz,
    paid_by        text,                 -- the payment attempt that paid it
    CHECK ((status = 'paid') = (paid_at IS NOT NULL AND paid_by IS NOT NULL))
);
CREATE INDEX orders_due ON orders (expires_at) WHERE status = 'pending';
CREATE INDEX orders_account ON orders (event_id, account);

-- Every sellable place. state is what was last written; what a fan sees at
-- a time t is 'held' only while hold_expires_at > t. A seat has seat_id and
-- its position; a zone place only its zone_id. Sold is final in this
-- version: a refund voids the ticket but does not free the place.
CREATE TABLE places (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text NOT NULL REFERENCES events (id),
    kind            text NOT NULL CHECK (kind IN ('seat', 'zone')),
    seat_id         text,
    section_id      text,
    row_label       text,
    seat_number     text,
    x               double precision,   -- position on the seat map
    y               double precision,
    zone_id         text,
    ticket_type_id  text NOT NULL,
    quota_id        text,               -- NULL: for the public
    state           text NOT NULL CHECK (state IN ('available', 'held', 'sold')),
    hold_id         text REFERENCES holds (id),
    hold_expires_at timestamptz,
    order_id        text REFERENCES orders (id), -- the paid order it was sold to
    UNIQUE (event_id, seat_id),         -- zone places (NULL seat_id) never clash
    FOREIGN KEY (event_id, section_id) REFERENCES sections (event_id, id),
    FOREIGN KEY (event_id, zone_id) REFERENCES zones (event_id, id),
    FOREIGN KEY (event_id, ticket_type_id) REFERENCES ticket_types (event_id, id),
    FOREIGN KEY (event_id, quota_id) REFERENCES quotas (event_id, id),
    CHECK (kind <> 'seat' OR (seat_id IS NOT NULL AND section_id IS NOT NULL AND zone_id IS NULL)),
    CHECK (kind <> 'zone' OR (zone_id IS NOT NULL AND seat_id IS NULL)),
    CHECK (state <> 'held' OR (hold_id IS NOT NULL AND hold_expires_at IS NOT NULL)),
    CHECK ((state = 'sold') = (order_id IS NOT NULL))
);
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
    id              text PRIMARY KEY,
    order_id        text NOT NULL REFERENCES orders (id),
    attempt         integer NOT NULL,   -- 1, 2, … per order
    idempotency_key text NOT NULL UNIQUE, -- "<order id>:<attempt>"
    provider_ref    text UNIQUE,        -- the provider's id, once known
    status          text NOT NULL CHECK (status IN ('created', 'succeeded', 'failed', 'refunded')),
    amount_cents    bigint NOT NULL,
    currency        text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz,        -- last change of status
    UNIQUE (order_id, attempt)
);

-- Tickets exist only for paid orders, one per sold place.
CREATE TABLE tickets (
    id             text PRIMARY KEY,
    order_id       text NOT NULL REFERENCES orders (id),
    event_id       text NOT NULL REFERENCES events (id),
    place_id       bigint NOT NULL REFERENCES places (id),
    label          text NOT NULL,
    ticket_type_id text NOT NULL,
    issued_at      timestamptz NOT NULL,
    void           boolean NOT NULL,    -- refunded: admits nobody
    checked_in_at  timestamptz          -- the first scan
);
-- A place admits at most one person.
CREATE UNIQUE INDEX tickets_place ON tickets (place_id) WHERE NOT void;
CREATE INDEX tickets_order ON tickets (order_id);
CREATE INDEX tickets_event ON tickets (event_id);

-- Checkout requests already answered, by (account, Idempotency-Key).
CREATE TABLE idempotency_keys (
    account         text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    -- No foreign key: this row is written first, before its order, so that
    -- a second request with the key waits on it.
    order_id        text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (account, idempotency_key)
);

-- Provider notifications, kept once by their id and processed later.
CREATE TABLE webhook_inbox (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- arrival order
    provider     text NOT NULL,
    id           text NOT NULL,
    type         text NOT NULL,
    payload      bytea NOT NULL,
    received_at  timestamptz NOT NULL,
    processed_at timestamptz,
    error        text,                  -- what processing reported, if it failed
    UNIQUE (provider, id)
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox (received_at, seq) WHERE processed_at IS NULL;

-- Side effects to carry out once, written in the transaction that causes
-- them (the tickets e-mail of a paid order).
CREATE TABLE outbox (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text NOT NULL UNIQUE, -- "<kind>:<order id>"
    kind            text NOT NULL,
    order_id        text NOT NULL REFERENCES orders (id),
    payload         bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL,     -- failed sends so far; given up at 10
    last_attempt_at timestamptz,
    sent_at         timestamptz
);
CREATE INDEX outbox_pending ON outbox (created_at, seq) WHERE sent_at IS NULL;
