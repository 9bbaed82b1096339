-- Billing: exact money on the legacy double precision columns, a budget ledger that proves
-- its balances, idempotent requests, reservations, ordered campaign chains, and Stripe
-- webhooks applied in event order. Everything is added beside the reference columns, which
-- keep their meaning: amounts in major units (what NeonHub's application reads).

-- ISO 4217 minor-unit exponents (the active codes; case-insensitive, since Stripe and the
-- schema's defaults spell codes in lower case). NULL for a code that is not ISO 4217.
-- neonhub-billing keeps the same table (`Currency`); a test checks that the two agree.
CREATE FUNCTION public.nh_currency_exponent(p_currency text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    c text := upper(p_currency);
BEGIN
    RETURN CASE
        WHEN c IN ('BIF','CLP','DJF','GNF','ISK','JPY','KMF','KRW','PYG','RWF',
                   'UGX','UYI','VND','VUV','XAF','XOF','XPF') THEN 0
        WHEN c IN ('BHD','IQD','JOD','KWD','LYD','OMR','TND') THEN 3
        WHEN c IN ('CLF','UYW') THEN 4
        WHEN c IN ('AED','AFN','ALL','AMD','ANG','AOA','ARS','AUD','AWG','AZN',
            'BAM','BBD','BDT','BGN','BMD','BND','BOB','BOV','BRL','BSD','BTN','BWP','BYN','BZD',
            'CAD','CDF','CHE','CHF','CHW','CNY','COP','COU','CRC','CUP','CVE','CZK','DKK','DOP',
            'DZD','EGP','ERN','ETB','EUR','FJD','FKP','GBP','GEL','GHS','GIP','GMD','GTQ','GYD',
            'HKD','HNL','HTG','HUF','IDR','ILS','INR','IRR','JMD','KES','KGS','KHR','KPW','KYD',
            'KZT','LAK','LBP','LKR','LRD','LSL','MAD','MDL','MGA','MKD','MMK','MNT','MOP','MRU',
            'MUR','MVR','MWK','MXN','MXV','MYR','MZN','NAD','NGN','NIO','NOK','NPR','NZD','PAB',
            'PEN','PGK','PHP','PKR','PLN','QAR','RON','RSD','RUB','SAR','SBD','SCR','SDG','SEK',
            'SGD','SHP','SLE','SOS','SRD','SSP','STN','SVC','SYP','SZL','THB','TJS','TMT','TOP',
            'TRY','TTD','TWD','TZS','UAH','USD','USN','UYU','UZS','VED','VES','WST','XCD','XCG',
            'YER','ZAR','ZMW','ZWG') THEN 2
    END;
END
$$;

-- Whether a stored major-unit amount is a whole number of the currency's minor units,
-- within the error a double adds (`0.29::float8 * 100` is 28.999999999999996): at most
-- 1e-6 of a minor unit, or 1e-15 of the amount for large amounts. False for an unknown
-- currency, a non-finite value, or more than 2^53 minor units (where a double stops being
-- exact). NULL amounts pass (nullable columns). PL/pgSQL, not SQL: the CHECK constraints
-- call these per written row, and a non-inlined SQL function is planned at every call
-- (measured: 7.7 ms per budget_profiles UPDATE with SQL bodies).
CREATE FUNCTION public.nh_is_whole_minor(p_amount double precision, p_currency text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    e integer;
    scaled double precision;
BEGIN
    IF p_amount IS NULL THEN
        RETURN true;
    END IF;
    e := public.nh_currency_exponent(p_currency);
    IF e IS NULL OR p_amount IN ('Infinity', '-Infinity', 'NaN') THEN
        RETURN false;
    END IF;
    scaled := p_amount * 10 ^ e;
    RETURN abs(scaled) <= 9007199254740992
        AND abs(scaled - round(scaled)) <= greatest(1e-6, abs(scaled) * 1e-15);
END
$$;

-- A stored major-unit amount in minor units (rounded to the nearest); NULL when the
-- currency is unknown or the amount is not a whole number of minor units.
CREATE FUNCTION public.nh_minor_units(p_amount double precision, p_currency text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF p_amount IS NULL OR NOT public.nh_is_whole_minor(p_amount, p_currency) THEN
        RETURN NULL;
    END IF;
    RETURN round(p_amount * 10 ^ public.nh_currency_exponent(p_currency))::bigint;
END
$$;

-- Money columns: whole minor units, never negative where that makes no sense, and a budget
-- never over its total. Added NOT VALID so adopting a database with legacy float values
-- does not fail; new and changed rows are checked from now on. Each is validated below
-- when no row breaks it; `neonhub verify` reports those that stay unvalidated, with the
-- rows that break them.
ALTER TABLE public.budget_profiles
    ADD CONSTRAINT "budget_profiles_money_check" CHECK (
        public.nh_is_whole_minor("totalBudget", currency)
        AND public.nh_is_whole_minor(reserved, currency)
        AND public.nh_is_whole_minor(spent, currency)) NOT VALID,
    ADD CONSTRAINT "budget_profiles_nonnegative_check" CHECK (
        reserved >= 0 AND spent >= 0 AND ("totalBudget" IS NULL OR "totalBudget" >= 0)) NOT VALID,
    ADD CONSTRAINT "budget_profiles_limit_check" CHECK (
        "totalBudget" IS NULL
        OR public.nh_minor_units(spent, currency) + public.nh_minor_units(reserved, currency)
           <= public.nh_minor_units("totalBudget", currency)) NOT VALID;
ALTER TABLE public.budget_allocations
    ADD CONSTRAINT "budget_allocations_money_check" CHECK (
        public.nh_is_whole_minor(amount, currency) AND amount >= 0) NOT VALID;
ALTER TABLE public.budget_ledger
    ADD CONSTRAINT "budget_ledger_money_check" CHECK (public.nh_is_whole_minor(amount, currency)) NOT VALID;
ALTER TABLE public.budget_transactions
    ADD CONSTRAINT "budget_transactions_money_check" CHECK (
        public.nh_is_whole_minor(amount, currency)
        AND public.nh_is_whole_minor("balanceBefore", currency)
        AND public.nh_is_whole_minor("balanceAfter", currency)) NOT VALID;
ALTER TABLE public.payments
    ADD CONSTRAINT "payments_money_check" CHECK (public.nh_is_whole_minor(amount, currency)) NOT VALID;
ALTER TABLE public.payouts
    ADD CONSTRAINT "payouts_money_check" CHECK (public.nh_is_whole_minor(amount, currency)) NOT VALID;

DO $$
DECLARE
    c record;
    broken boolean;
BEGIN
    FOR c IN SELECT con.conrelid::regclass AS tbl, con.conname, pg_get_expr(con.conbin, con.conrelid) AS expr
             FROM pg_constraint con
             WHERE con.connamespace = 'public'::regnamespace AND NOT con.convalidated
               AND con.conname IN ('budget_profiles_money_check', 'budget_profiles_nonnegative_check',
                   'budget_profiles_limit_check', 'budget_allocations_money_check',
                   'budget_ledger_money_check', 'budget_transactions_money_check',
                   'payments_money_check', 'payouts_money_check')
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE NOT coalesce(%s, true))', c.tbl, c.expr) INTO broken;
        IF NOT broken THEN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.tbl, c.conname);
        END IF;
    END LOOP;
END $$;

-- Reservations: money set aside on a profile until it is committed (spent, the rest given
-- back) or released. Amounts in minor units of the profile's currency.
CREATE TABLE public.budget_reservations (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "budgetProfileId" text NOT NULL,
    amount bigint NOT NULL,
    committed bigint,
    status text NOT NULL DEFAULT 'open',
    "campaignId" text,
    "marketingCampaignId" text,
    "allocationId" text,
    "createdAt" timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closedAt" timestamp(3) without time zone,
    CONSTRAINT budget_reservations_pkey PRIMARY KEY (id),
    CONSTRAINT "budget_reservations_organizationId_fkey" FOREIGN KEY ("organizationId")
        REFERENCES public.organizations (id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT "budget_reservations_budgetProfileId_fkey" FOREIGN KEY ("budgetProfileId")
        REFERENCES public.budget_profiles (id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT "budget_reservations_campaignId_fkey" FOREIGN KEY ("campaignId")
        REFERENCES public.campaigns (id) ON UPDATE CASCADE ON DELETE SET NULL,
    CONSTRAINT "budget_reservations_marketingCampaignId_fkey" FOREIGN KEY ("marketingCampaignId")
        REFERENCES public.marketing_campaigns (id) ON UPDATE CASCADE ON DELETE SET NULL,
    CONSTRAINT "budget_reservations_allocationId_fkey" FOREIGN KEY ("allocationId")
        REFERENCES public.budget_allocations (id) ON UPDATE CASCADE ON DELETE SET NULL,
    CONSTRAINT "budget_reservations_status_check" CHECK (status IN ('open', 'committed', 'released')),
    CONSTRAINT "budget_reservations_amount_check" CHECK (
        amount > 0 AND (committed IS NULL OR (committed >= 0 AND committed <= amount)))
);
CREATE INDEX "budget_reservations_budgetProfileId_status_idx"
    ON public.budget_reservations ("budgetProfileId", status);
CREATE INDEX "budget_reservations_organizationId_idx" ON public.budget_reservations ("organizationId");
ALTER TABLE public.budget_reservations ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public.budget_reservations
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));

-- Idempotency: one row per (organization, key), holding the request and its receipt, so a
-- replay returns the first result and a replay with other arguments is refused.
CREATE TABLE public.budget_requests (
    "organizationId" text NOT NULL,
    key text NOT NULL,
    operation text NOT NULL,
    request jsonb NOT NULL,
    receipt jsonb NOT NULL,
    "createdAt" timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT budget_requests_pkey PRIMARY KEY ("organizationId", key),
    CONSTRAINT "budget_requests_organizationId_fkey" FOREIGN KEY ("organizationId")
        REFERENCES public.organizations (id) ON UPDATE CASCADE ON DELETE CASCADE
);
ALTER TABLE public.budget_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public.budget_requests
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));

-- The ledger's effect on its profile, in minor units, so the audit adds integers: NULL on
-- rows written before adoption (the audit reports those as unaudited, not as violations).
ALTER TABLE public.budget_ledger
    ADD COLUMN "spentDelta" bigint,
    ADD COLUMN "reservedDelta" bigint,
    ADD COLUMN "reservationId" text,
    ADD CONSTRAINT "budget_ledger_reservationId_fkey" FOREIGN KEY ("reservationId")
        REFERENCES public.budget_reservations (id) ON UPDATE CASCADE ON DELETE SET NULL;
CREATE INDEX "budget_ledger_reservationId_idx" ON public.budget_ledger ("reservationId");

-- Each campaign's transactions form a chain: sequence 1, 2, ... with balanceBefore equal
-- to the previous row's balanceAfter.
ALTER TABLE public.budget_transactions ADD COLUMN "sequence" bigint;
CREATE UNIQUE INDEX "budget_transactions_campaignId_sequence_key"
    ON public.budget_transactions ("campaignId", "sequence") WHERE "sequence" IS NOT NULL;

-- Stripe webhooks: when the event last applied to a row happened, so a replayed or older
-- event changes nothing.
ALTER TABLE public.subscriptions ADD COLUMN "stripeEventAt" timestamp(3) without time zone;
ALTER TABLE public.invoices ADD COLUMN "stripeEventAt" timestamp(3) without time zone;
ALTER TABLE public.payments ADD COLUMN "stripeEventAt" timestamp(3) without time zone;
ALTER TABLE public.payouts ADD COLUMN "stripeEventAt" timestamp(3) without time zone;
-- Payouts are upserted by their Stripe transfer id, which the reference leaves without a
-- unique index.
CREATE UNIQUE INDEX "payouts_stripeTransferId_key" ON public.payouts ("stripeTransferId")
    WHERE "stripeTransferId" IS NOT NULL;

-- Before any scope: which user a Stripe customer or subscription belongs to (a webhook
-- names only Stripe's ids). One row by key; EXECUTE granted by `neonhub app-role`.
CREATE FUNCTION public.nh_subscription_owner(p_stripe_id text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT "userId" FROM public.subscriptions
    WHERE "stripeSubscriptionId" = p_stripe_id OR "stripeCustomerId" = p_stripe_id
    LIMIT 1
$$;
REVOKE EXECUTE ON FUNCTION public.nh_subscription_owner(text) FROM PUBLIC;
