DROP TRIGGER audit_logs_append_only ON public.audit_logs;
DROP FUNCTION public.neonhub_audit_logs_append_only();
