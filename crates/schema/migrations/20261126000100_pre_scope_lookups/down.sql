DROP FUNCTION public.nh_member_organization(text, text);
DROP FUNCTION public.nh_organization_id(text);
DROP FUNCTION public.nh_user_by_email(text);
DROP FUNCTION public.nh_consume_verification_token(text, text);
DROP FUNCTION public.nh_session(text, timestamp);
DROP FUNCTION public.nh_touch_api_key(text, timestamp, interval);
DROP FUNCTION public.nh_api_key(text);
DROP FUNCTION public.nh_member_permissions(text, text);
