class InfraError(RuntimeError):
    """A server could not be fetched, configured or started. The message names the cause and the
    setting to change; the supervisor prints it alone and exits non-zero."""
