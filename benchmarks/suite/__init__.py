"""The parts of benchmarks/bench_suite.py, split as the library is.

* ``common``: seed, learning rate, dtypes, Adam's constants and the thread count of every contender.
* ``workloads``: the rows of the table (sizes per mode), their FLOP and memory counts, the data.
* ``contenders``: how each contender trains and predicts (backprop C++ and reference, torch, scikit-learn).
* ``measure``: what a worker process does for one cell: validate, prime, warm up, time, record.
* ``render``: the text tables, the performance targets and the PNG chart.

``bench_suite.py`` plans the cells, runs the workers and assembles their results.
"""
