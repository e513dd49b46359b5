"""Spaced-repetition quiz: question bank model and loading, hand-calculation items, scheduling
(fsrs) and the interactive / piped session behind `attn-drill quiz`."""
