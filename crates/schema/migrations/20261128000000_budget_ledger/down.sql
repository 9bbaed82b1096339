DROP FUNCTION IF EXISTS public.nh_subscription_owner(text);
DROP INDEX IF EXISTS public."payouts_stripeTransferId_key";
ALTER TABLE public.payouts DROP COLUMN IF EXISTS "stripeEventAt";
ALTER TABLE public.payments DROP COLUMN IF EXISTS "stripeEventAt";
ALTER TABLE public.invoices DROP COLUMN IF EXISTS "stripeEventAt";
ALTER TABLE public.subscriptions DROP COLUMN IF EXISTS "stripeEventAt";
DROP INDEX IF EXISTS public."budget_transactions_campaignId_sequence_key";
ALTER TABLE public.budget_transactions DROP COLUMN IF EXISTS "sequence";
DROP INDEX IF EXISTS public."budget_ledger_reservationId_idx";
ALTER TABLE public.budget_ledger
    DROP CONSTRAINT IF EXISTS "budget_ledger_reservationId_fkey",
    DROP COLUMN IF EXISTS "reservationId",
    DROP COLUMN IF EXISTS "reservedDelta",
    DROP COLUMN IF EXISTS "spentDelta";
DROP TABLE IF EXISTS public.budget_requests;
DROP TABLE IF EXISTS public.budget_reservations;
ALTER TABLE public.payouts DROP CONSTRAINT IF EXISTS "payouts_money_check";
ALTER TABLE public.payments DROP CONSTRAINT IF EXISTS "payments_money_check";
ALTER TABLE public.budget_transactions DROP CONSTRAINT IF EXISTS "budget_transactions_money_check";
ALTER TABLE public.budget_ledger DROP CONSTRAINT IF EXISTS "budget_ledger_money_check";
ALTER TABLE public.budget_allocations DROP CONSTRAINT IF EXISTS "budget_allocations_money_check";
ALTER TABLE public.budget_profiles
    DROP CONSTRAINT IF EXISTS "budget_profiles_limit_check",
    DROP CONSTRAINT IF EXISTS "budget_profiles_nonnegative_check",
    DROP CONSTRAINT IF EXISTS "budget_profiles_money_check";
DROP FUNCTION IF EXISTS public.nh_minor_units(double precision, text);
DROP FUNCTION IF EXISTS public.nh_is_whole_minor(double precision, text);
DROP FUNCTION IF EXISTS public.nh_currency_exponent(text);
