"""The command line's CSV reader (``backprop._csv``): one code path for files and standard input,
linear header checks, streaming parse with bounded memory, errors that name file, column and row."""

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from backprop._csv import CHUNK_ROWS, CLIError, read_table


def every_column_but(target):
    return lambda header: ([h for h in header if h != target], target)


def read_stdin(data: bytes, select):
    """read_table("-") on these bytes as the process's standard input (a child process)."""
    code = (
        "import sys, pickle\n"
        "from backprop._csv import read_table, CLIError\n"
        f"select = {select!r}\n"
        "try:\n"
        "    t = read_table('-', lambda h: ([c for c in h if c != select], select))\n"
        "    out = ('ok', t.header, t.X.tolist(), t.labels)\n"
        "except CLIError as e:\n"
        "    out = ('error', str(e))\n"
        "sys.stdout.buffer.write(pickle.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    import pickle

    return pickle.loads(proc.stdout)


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfa,b,y\n1,2,x\n3,4,z\n",  # a byte-order mark
        b"a,b,y\r\n1,2,x\r\n\r\n3,4,z\r\n",  # CRLF and a blank line
        b"a,b,y\n1,2,x\n3,4,\xff\n",  # not UTF-8
        b"a,\"b\",y\n\" 1\",2,x\n3,4e0,z\n",  # quotes and spaces
    ],
)
def test_standard_input_reads_as_the_file_does(tmp_path, data):
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    try:
        t = read_table(str(path), every_column_but("y"))
        from_file = ("ok", t.header, t.X.tolist(), t.labels)
    except CLIError as e:
        from_file = ("error", str(e).replace(str(path), "standard input"))
    assert read_stdin(data, "y") == from_file
    if data.startswith(b"\xef\xbb\xbf"):
        assert from_file[1] == ["a", "b", "y"]  # the mark is not part of the first name
    if b"\xff" in data:
        assert from_file[0] == "error" and "UTF-8" in from_file[1]


def test_wide_header(tmp_path):
    n = 20_000
    header = [f"c{j}" for j in range(n)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(header) + "\n" + ",".join(str(j % 7) for j in range(n)) + "\n")
    t = read_table(str(path), every_column_but("c0"))
    assert t.X.shape == (1, n - 1) and t.X[0, :3].tolist() == [1.0, 2.0, 3.0] and t.labels == ["0"]
    dup = tmp_path / "dup.csv"
    dup.write_text(",".join(header + ["c5", "c7"]) + "\n")
    with pytest.raises(CLIError, match="duplicate column names in the header: c5, c7"):
        read_table(str(dup), every_column_but("c0"))


def test_peak_memory_is_a_small_multiple_of_the_parsed_data(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 5 * CHUNK_ROWS + 17, 20
    X = rng.normal(size=(n, d))
    path = tmp_path / "big.csv"
    with open(path, "w") as f:
        f.write(",".join([f"x{j}" for j in range(d)] + ["y"]) + "\n")
        for i in range(n):
            f.write(",".join(map(repr, X[i].tolist())) + f",{i % 2}\n")
    tracemalloc.start()
    try:
        t = read_table(str(path), every_column_but("y"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(t.X, X)  # repr round-trips exactly
    labels_bytes = sum(sys.getsizeof(v) for v in t.labels) + sys.getsizeof(t.labels)
    assert peak <= 3 * X.nbytes + labels_bytes + (8 << 20), (peak, X.nbytes)


@pytest.mark.parametrize(
    "text, needles",
    [
        ("a,y\n1,p\n2,\n", ["target column 'y' has an empty cell in data row 2"]),
        ("a,y\n1,p\ninf,q\n", ["column 'a'", "non-finite value 'inf'", "data row 2"]),
        ("a,y\n1,p\nnan,q\n", ["column 'a'", "non-finite value 'nan'", "data row 2"]),
        ("a,y\n1,p\n1e999,q\n", ["column 'a'", "data row 2"]),
        ("a,y\n1,p\nx,q\n", ["column 'a' is not numeric: data row 2 has 'x'"]),
        ("a,y\n1,p\n ,q\n", ["column 'a' has an empty cell in data row 2"]),
        ("a,y\n1,p\n2\n", ["line 3: 1 fields, but the header has 2 columns"]),
        ("a,,y\n", ["empty column name (column 2)"]),
        ("\n\n", ["is empty"]),
        ("a,y\n", ["has a header but no data rows"]),
    ],
)
def test_errors_name_file_column_and_row(tmp_path, text, needles):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CLIError) as info:
        read_table(str(path), every_column_but("y"))
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, message


def test_bad_cell_in_a_later_chunk_names_its_row(tmp_path):
    rows = ["1,p"] * (CHUNK_ROWS + 5) + ["oops,p"]
    path = tmp_path / "late.csv"
    path.write_text("a,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(CLIError, match=f"data row {CHUNK_ROWS + 6} has 'oops'"):
        read_table(str(path), every_column_but("y"))


def test_only_the_chosen_columns_are_parsed(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id,x2,x1,y\nr1,2,1,a\nr2,4,3,b\n")
    t = read_table(str(path), lambda header: (["x1", "x2"], None))
    assert t.X.tolist() == [[1.0, 2.0], [3.0, 4.0]] and t.labels is None
    with pytest.raises(CLIError, match="no column named 'x3'"):
        read_table(str(path), lambda header: (["x3"], None))
