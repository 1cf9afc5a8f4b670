"""The restricted robot API the LLM's code may call, its result types and its errors."""
