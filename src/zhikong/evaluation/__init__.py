"""Evaluation of the engines against a simulated world's ground truth (``zhikong eval …``)."""
