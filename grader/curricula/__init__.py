"""Curriculum data files bundled with grade."""
