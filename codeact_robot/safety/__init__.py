"""The safety layer: limits, argument validation, geofence/keep-out checks, sensor monitor.

Only the skills node applies it (the one place that enforces limits); the API facade may reuse
the argument validation for clearer messages, never instead of it.
"""
