"""Built-in checks: pure functions of facts, grouped by concern and chosen per phase by the curriculum."""
