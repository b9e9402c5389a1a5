"""Grading a whole class: `grade batch SOURCE --phase N` (roster, snapshots, cache, runners, class outputs)."""
