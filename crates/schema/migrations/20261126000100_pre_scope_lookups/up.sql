-- The lookups that come before there is a scope (signing in, resolving a route, checking an
-- API key or a session), as narrow SECURITY DEFINER functions owned by the schema's owner:
-- each reads (or consumes) one row by its key, so the application role, subject to
-- row-level security, can run them without any table being opened to it. Fixed
-- search_path; EXECUTE is revoked from PUBLIC and granted by `neonhub app-role`.

-- A member's status and the permission keys of its role (roles and keys of the same
-- organization only): what `authorize` needs, in one query.
CREATE FUNCTION public.nh_member_permissions(p_org text, p_user text)
RETURNS TABLE (status text, keys text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT m.status,
           coalesce(array_agg(p.key) FILTER (WHERE p.key IS NOT NULL), '{}')
    FROM public.organization_members m
    LEFT JOIN public.organization_roles r
           ON r.id = m."roleId" AND r."organizationId" = m."organizationId"
    LEFT JOIN public.role_permissions rp ON rp."roleId" = r.id
    LEFT JOIN public.organization_permissions p
           ON p.id = rp."permissionId" AND p."organizationId" = m."organizationId"
    WHERE m."organizationId" = p_org AND m."userId" = p_user
    GROUP BY m.status
$$;

-- One API key by its id, with its hash (compared by the library in constant time).
CREATE FUNCTION public.nh_api_key(p_id text)
RETURNS SETOF public.api_keys
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM public.api_keys WHERE id = p_id
$$;

-- Records a key's use, at most once per `p_every`.
CREATE FUNCTION public.nh_touch_api_key(p_id text, p_now timestamp(3), p_every interval)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    UPDATE public.api_keys SET "lastUsedAt" = p_now
    WHERE id = p_id AND ("lastUsedAt" IS NULL OR "lastUsedAt" <= p_now - p_every)
$$;

-- One unexpired session by its token.
CREATE FUNCTION public.nh_session(p_token text, p_now timestamp(3))
RETURNS SETOF public.sessions
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM public.sessions WHERE "sessionToken" = p_token AND expires > p_now
$$;

-- Consumes one verification token: deletes it and returns its expiry (no row: unknown).
CREATE FUNCTION public.nh_consume_verification_token(p_identifier text, p_token text)
RETURNS timestamp(3)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DELETE FROM public.verification_tokens
    WHERE identifier = p_identifier AND token = p_token
    RETURNING expires
$$;

-- One user by (normalized) email, for signing in.
CREATE FUNCTION public.nh_user_by_email(p_email text)
RETURNS SETOF public.users
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM public.users WHERE email = p_email::public.citext
$$;

-- The id of the organization with a slug (nothing else about it).
CREATE FUNCTION public.nh_organization_id(p_slug text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT id FROM public.organizations WHERE slug = p_slug
$$;

-- The organization with a slug, if the user is an active member of it.
CREATE FUNCTION public.nh_member_organization(p_user text, p_slug text)
RETURNS SETOF public.organizations
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT o.* FROM public.organizations o
    JOIN public.organization_members m ON m."organizationId" = o.id
    WHERE o.slug = p_slug AND m."userId" = p_user AND m.status = 'active'
$$;

-- One account by its provider and the provider's account id (OAuth sign-in, before the
-- user is known).
CREATE FUNCTION public.nh_account_by_provider(p_provider text, p_account text)
RETURNS SETOF public.accounts
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM public.accounts WHERE provider = p_provider AND "providerAccountId" = p_account
$$;

-- Moves an unexpired session's end, by its token; the number of rows changed (0 or 1).
CREATE FUNCTION public.nh_extend_session(p_token text, p_now timestamp(3), p_expires timestamp(3))
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH changed AS (
        UPDATE public.sessions SET expires = p_expires
        WHERE "sessionToken" = p_token AND expires > p_now RETURNING 1)
    SELECT count(*) FROM changed
$$;

-- Ends a session by its token (signing out); the number of rows deleted (0 or 1).
CREATE FUNCTION public.nh_delete_session(p_token text)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH gone AS (DELETE FROM public.sessions WHERE "sessionToken" = p_token RETURNING 1)
    SELECT count(*) FROM gone
$$;

-- Stores a verification token (the table is closed to the application role).
CREATE FUNCTION public.nh_issue_verification_token(p_identifier text, p_token text, p_expires timestamp(3))
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    INSERT INTO public.verification_tokens (identifier, token, expires)
    VALUES (p_identifier, p_token, p_expires)
$$;

-- The organizations a user is an active member of (id, slug, name), for a sign-in page.
CREATE FUNCTION public.nh_user_organizations(p_user text)
RETURNS SETOF public.organizations
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT o.* FROM public.organizations o
    JOIN public.organization_members m ON m."organizationId" = o.id
    WHERE m."userId" = p_user AND m.status = 'active'
    ORDER BY o.slug
$$;

REVOKE ALL ON FUNCTION public.nh_member_permissions(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_api_key(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_touch_api_key(text, timestamp, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_session(text, timestamp) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_consume_verification_token(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_user_by_email(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_organization_id(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_member_organization(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_account_by_provider(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_extend_session(text, timestamp, timestamp) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_delete_session(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_issue_verification_token(text, text, timestamp) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.nh_user_organizations(text) FROM PUBLIC;
