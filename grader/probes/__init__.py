"""Probes: all of the grader's I/O. Each gathers one fact, once per run."""
