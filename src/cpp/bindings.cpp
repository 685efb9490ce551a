// bindings.cpp -- the private module backprop._core.
//
// Every function checks what it is handed (dtype, ndim, contiguity, shapes, writeability) and
// raises TypeError / ValueError before touching memory; arrays are never converted or copied
// here (the estimator does that, once).  Long work runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "network.hpp"

namespace py = pybind11;
using namespace backprop;

namespace {

std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        if (i) s += ", ";
        s += std::to_string(a.shape(i));
    }
    if (a.ndim() == 1) s += ",";
    return s + ")";
}

// Equivalent dtype (native byte order), whatever dtype object instance the array carries.
// Decided from the type number and byte order where they settle it: numpy's equivalence test
// costs a cast-safety lookup whenever the dtype object is not numpy's own instance (a pickled
// model's weights, say), a noticeable part of a 1-row predict.  Explicit byte orders ('<', '>')
// are left to numpy.
template <class T>
bool has_dtype(const py::array& a) {
    const py::dtype d = a.dtype();
    if (d.num() != py::detail::npy_format_descriptor<T>::value) return false;
    return d.byteorder() == '=' || py::array_t<T>::check_(a);
}
bool is_float64(const py::array& a) { return has_dtype<double>(a); }
bool is_float32(const py::array& a) { return has_dtype<float>(a); }

// Whether the memory of two C-contiguous arrays overlaps (empty arrays overlap nothing).
bool overlap(const py::array& a, const py::array& b) {
    if (a.nbytes() == 0 || b.nbytes() == 0) return false;
    const auto pa = reinterpret_cast<std::uintptr_t>(a.data()), pb = reinterpret_cast<std::uintptr_t>(b.data());
    return pa < pb + static_cast<std::uintptr_t>(b.nbytes()) && pb < pa + static_cast<std::uintptr_t>(a.nbytes());
}

// Checks dtype T, ndim and C-contiguity; returns the array typed (no copy).
template <class T>
py::array_t<T> require(const py::array& a, const char* name, int ndim, bool writeable = false) {
    if (!has_dtype<T>(a))
        throw py::type_error(std::string(name) + " must have dtype " + std::string(py::str(py::dtype::of<T>())) +
                             ", got " + std::string(py::str(a.dtype())));
    if (a.ndim() != ndim)
        throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " +
                              shape_str(a));
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(name) + " must be C-contiguous");
    if (writeable && !a.writeable()) throw py::value_error(std::string(name) + " must be writeable");
    if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
        // The kernels load whole values: a misaligned input is read from an aligned copy, made
        // once here; an array written in place cannot be replaced by one.
        if (writeable)
            throw py::value_error(std::string(name) + " is not aligned to its dtype (it is written in place: pass an "
                                  "aligned array, e.g. a copy)");
        std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
        py::array_t<T> copy(shape);
        std::memcpy(copy.mutable_data(), a.data(), static_cast<std::size_t>(a.nbytes()));
        return copy;
    }
    return py::reinterpret_borrow<py::array_t<T>>(a);  // checked above: no conversion, no new array
}

// Reads the architecture from the weight list and checks that the matrices chain.
template <class T>
Shape check_weights(const std::vector<py::array_t<T>>& W, idx n_features, bool need_single_output = true) {
    if (W.empty()) throw py::value_error("weights must hold at least one matrix");
    Shape s;
    s.n_features = n_features;
    s.k.reserve(W.size());
    s.m.reserve(W.size());
    idx k = n_features;
    for (std::size_t l = 0; l < W.size(); ++l) {
        const idx rows = W[l].shape(0), cols = W[l].shape(1);
        if (cols != k + 1)
            throw py::value_error("weights[" + std::to_string(l) + "] has shape " + shape_str(W[l]) + ", expected (" +
                                  std::to_string(rows) + ", " + std::to_string(k + 1) + ") (inputs + bias column)");
        if (rows < 1) throw py::value_error("weights[" + std::to_string(l) + "] has no output units");
        s.k.push_back(k);
        s.m.push_back(rows);
        k = rows;
    }
    if (need_single_output && s.m.back() != 1)
        throw py::value_error("the last weight matrix must have exactly one row (one sigmoid output unit), got " +
                              shape_str(W.back()));
    return s;
}

template <class T>
std::vector<py::array_t<T>> require_weights(const py::list& weights, bool writeable, const char* what = "weights") {
    std::vector<py::array_t<T>> W;
    W.reserve(weights.size());
    for (std::size_t l = 0; l < weights.size(); ++l) {
        py::object o = weights[l];
        const std::string name = std::string(what) + "[" + std::to_string(l) + "]";
        if (!py::isinstance<py::array>(o)) throw py::type_error(name + " is not a numpy array");
        W.push_back(require<T>(o.cast<py::array>(), name.c_str(), 2, writeable));
    }
    return W;
}

Act parse_activation(const std::string& name) {
    if (name == "sigmoid") return Act::sigmoid;
    if (name == "tanh") return Act::tanh;
    if (name == "relu") return Act::relu;
    if (name == "identity") return Act::identity;
    throw py::value_error("activation must be one of 'sigmoid', 'tanh', 'relu', 'identity', got '" + name + "'");
}

Solver parse_solver(const std::string& name) {
    if (name == "gd") return Solver::gd;
    if (name == "momentum") return Solver::momentum;
    if (name == "adam") return Solver::adam;
    throw py::value_error("solver must be one of 'gd', 'momentum', 'adam', got '" + name + "'");
}

// The `output` argument, parsed: None (by_units: by the number of output units, one sigmoid unit
// or a softmax) or the named output layer and its loss.
struct OutputChoice {
    bool by_units = true;
    Loss loss{};
};

OutputChoice parse_output_name(const py::object& output) {
    if (output.is_none()) return {};
    if (!py::isinstance<py::str>(output))
        throw py::type_error("output must be None or a string, got " +
                             std::string(py::str(py::type::of(output).attr("__name__"))));
    const std::string name = output.cast<std::string>();
    if (name == "logistic") return {false, Loss::binary_log};
    if (name == "softmax") return {false, Loss::softmax_log};
    if (name == "identity") return {false, Loss::squared};
    if (name == "exp") return {false, Loss::poisson};
    throw py::value_error("output must be None or one of ('logistic', 'softmax', 'identity', 'exp'), got '" + name +
                          "'");
}

// The loss of a network with n_out output units for the parsed `output`.
Loss output_loss(const OutputChoice& output, idx n_out) {
    if (output.by_units) return loss_for_outputs(n_out);
    if (output.loss == Loss::softmax_log && n_out < 2)
        throw py::value_error("output='softmax' needs at least 2 output units (the last weight matrix has 1 row)");
    return output.loss;
}

Loss parse_output(const py::object& output, idx n_out) { return output_loss(parse_output_name(output), n_out); }

// Raises ValueError unless v is finite and within the range described by `range` (e.g. "[0, 1)").
void check_real(double v, const char* name, bool ok, const char* range) {
    if (!(std::isfinite(v) && ok))
        throw py::value_error(std::string(name) + " must be a finite number in " + range + ", got " + py::repr(py::float_(v)).cast<std::string>());
}

// The targets: (n,) for one output unit, (n, m_L) rows (one-hot for a softmax) for m_L >= 2.
template <class T>
py::array_t<T> require_targets(const py::array& y_, idx n, const Shape& s, idx& ldy) {
    const idx n_out = s.m.back();
    if (n_out >= 2 && y_.ndim() != 2)
        throw py::value_error("y must be 2-D (n, " + std::to_string(n_out) + "), one row of targets (one-hot for a "
                              "softmax) per sample, for a network with " + std::to_string(n_out) +
                              " output units, got shape " + shape_str(y_) +
                              "; targets (n,) need a last weight matrix with exactly one row (one output unit)");
    auto y = require<T>(y_, "y", n_out == 1 ? 1 : 2);
    if (y.shape(0) != n)
        throw py::value_error("X and y have different numbers of samples: " + std::to_string(n) + " and " +
                              std::to_string(y.shape(0)));
    if (n_out >= 2 && y.shape(1) != n_out)
        throw py::value_error("y must have shape (n, " + std::to_string(n_out) + ") (one-hot rows, one column per " +
                              "output unit), got " + shape_str(y));
    ldy = n_out;
    return y;
}

// The per-sample weights: None, or (n,) numbers converted to T (a copy only when the dtype or
// layout differs), finite, >= 0 and not all zero (the loss is divided by their sum); the rule of
// backprop._validation.check_sample_weight, with its messages.
template <class T>
std::optional<py::array_t<T>> require_sample_weight(const py::object& sample_weight, idx n) {
    if (sample_weight.is_none()) return std::nullopt;
    const py::array given = py::array::ensure(sample_weight);
    if (!given) throw py::type_error("sample_weight must be None or an array of numbers");
    const char kind = given.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
        throw py::type_error("sample_weight must hold numbers, got dtype " + std::string(py::str(given.dtype())));
    if (given.ndim() != 1 || given.shape(0) != n)
        throw py::value_error("sample_weight must have shape (" + std::to_string(n) +
                              ",), one weight per sample, got shape " + shape_str(given));
    auto w = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(given);
    if (!w) throw py::error_already_set();
    bool finite = true, negative = false, any = false;
    for (idx i = 0; i < n; ++i) {
        const T v = w.data()[i];
        finite = finite && std::isfinite(v);
        negative = negative || v < T(0);
        any = any || v != T(0);
    }
    if (!finite)
        throw py::value_error("sample_weight contains NaN or infinity (or values too large for the model's dtype)");
    if (negative) throw py::value_error("sample_weight must be >= 0, got a negative weight");
    if (!any) throw py::value_error("sample_weight must not be all zero (the loss is divided by their sum)");
    return w;
}

// Checks the arrays that are written (weights, solver state) against each other and the inputs.
void check_no_overlap(const std::vector<py::array>& written, const std::vector<std::string>& names,
                      const std::vector<py::array>& read) {
    for (std::size_t a = 0; a < written.size(); ++a) {
        for (std::size_t b = a + 1; b < written.size(); ++b)
            if (overlap(written[a], written[b]))
                throw py::value_error(names[a] + " and " + names[b] + " overlap in memory (they must be distinct arrays)");
        for (const auto& r : read)
            if (overlap(written[a], r)) throw py::value_error(names[a] + " overlaps X or y in memory");
    }
}

// The row order of train's batches: None, an (n,) permutation, or (>= max_iter, n), one per
// epoch.  Sets order / order_stride; the returned array keeps the memory alive.
inline py::array_t<std::int64_t> require_order(const py::object& order_arg, idx n, long long max_iter,
                                               const std::int64_t*& order_out, idx& order_stride) {
    py::array_t<std::int64_t> order;
    if (order_arg.is_none()) return order;
    const py::array order_ = order_arg.cast<py::array>();
    order = require<std::int64_t>(order_, "order", order_.ndim() == 2 ? 2 : 1);
    const idx rows = order.ndim() == 2 ? order.shape(0) : 1;
    if (order.shape(order.ndim() - 1) != n || (order.ndim() == 2 && rows < max_iter))
        throw py::value_error("order must have one entry per sample (" + std::to_string(n) + "), as shape (" +
                              std::to_string(n) + ",) or (max_iter, " + std::to_string(n) +
                              ") for one order per epoch, got shape " + shape_str(order));
    std::vector<char> seen(static_cast<std::size_t>(n), 0);
    for (idx e = 0; e < rows; ++e) {
        std::fill(seen.begin(), seen.end(), 0);
        for (idx i = 0; i < n; ++i) {
            const std::int64_t r = order.data()[e * n + i];
            if (r < 0 || r >= n || seen[static_cast<std::size_t>(r)])
                throw py::value_error("order must be a permutation of range(" + std::to_string(n) + ")" +
                                      (order.ndim() == 2 ? " in every row" : ""));
            seen[static_cast<std::size_t>(r)] = 1;
        }
    }
    order_out = order.data();
    order_stride = order.ndim() == 2 ? n : 0;
    return order;
}

// The solver state: arrays shaped like the weights (momentum: V_l; adam: M_l, then S_l),
// writeable; their pointers go to state_out.
template <class T>
std::vector<py::array_t<T>> require_solver_state(const py::list& arrays, Solver solver, const std::string& name,
                                                 const std::vector<py::array_t<T>>& W, std::vector<T*>& state_out) {
    const std::size_t n_state = static_cast<std::size_t>(solver_state_arrays(solver)) * W.size();
    if (arrays.size() != n_state)
        throw py::value_error("solver_state must hold " + std::to_string(n_state) + " arrays for solver '" + name +
                              "' (shaped like the weights), got " + std::to_string(arrays.size()));
    std::vector<py::array_t<T>> state = require_weights<T>(arrays, /*writeable=*/true, "solver_state");
    for (std::size_t i = 0; i < state.size(); ++i) {
        const auto& Wl = W[i % W.size()];
        if (state[i].shape(0) != Wl.shape(0) || state[i].shape(1) != Wl.shape(1))
            throw py::value_error("solver_state[" + std::to_string(i) + "] has shape " + shape_str(state[i]) +
                                  ", expected " + shape_str(Wl));
        state_out.push_back(state[i].mutable_data());
    }
    return state;
}

// train writes the weights, the solver state and the counters while it reads X, y and order.
template <class T>
void check_train_overlap(const std::vector<py::array_t<T>>& W, const std::vector<py::array_t<T>>& state,
                         const py::object& counters, std::vector<py::array> read, const py::object& order) {
    std::vector<py::array> written;
    std::vector<std::string> names;
    for (std::size_t l = 0; l < W.size(); ++l) {
        written.push_back(W[l]);
        names.push_back("weights[" + std::to_string(l) + "]");
    }
    for (std::size_t i = 0; i < state.size(); ++i) {
        written.push_back(state[i]);
        names.push_back("solver_state[" + std::to_string(i) + "]");
    }
    if (!counters.is_none()) {
        written.push_back(counters.cast<py::array>());
        names.push_back("counters");
    }
    if (!order.is_none()) read.push_back(order.cast<py::array>());
    check_no_overlap(written, names, read);
}

// train's callbacks into Python, called by its thread 0 with the GIL released: the epoch hook
// (an exception in it is kept in Python's error indicator and sets hook_failed) and Ctrl-C,
// polled at most every 50 ms.
template <class T>
void set_callbacks(TrainOptions<T>& o, const py::object& epoch_hook, bool& hook_failed,
                   std::chrono::steady_clock::time_point& last) {
    if (!epoch_hook.is_none()) {
        if (!PyCallable_Check(epoch_hook.ptr())) throw py::type_error("epoch_hook must be callable or None");
        const py::object hook = epoch_hook;
        o.on_epoch = [hook, &hook_failed](idx epoch, double loss) {
            py::gil_scoped_acquire gil;
            const CallerFpMode caller;  // the hook computes as outside the fit (no flushed subnormals)
            try {
                const py::object r = hook(epoch, loss);
                return r.ptr() != Py_False;
            } catch (py::error_already_set& e) {
                e.restore();  // raised again by the caller, once the threads have stopped
                hook_failed = true;
                return false;
            }
        };
    }
    o.should_stop = [&last]() {
        const auto now = std::chrono::steady_clock::now();
        if (now - last < std::chrono::milliseconds(50)) return false;
        last = now;
        py::gil_scoped_acquire gil;
        const CallerFpMode caller;  // Python's signal handlers, as the hook
        return PyErr_CheckSignals() != 0;
    };
}

// Rows per batch from the batch_size argument: any Python int >= 1, a size of n or more (however
// large, beyond the C++ integer range too) meaning the full batch.
inline idx batch_rows(const py::object& batch_size, idx n) {
    if (!PyLong_Check(batch_size.ptr()) || PyBool_Check(batch_size.ptr()))
        throw py::type_error("batch_size must be None or an integer, got " +
                             std::string(py::str(py::type::of(batch_size).attr("__name__"))));
    int overflow = 0;
    const long long bs = PyLong_AsLongLongAndOverflow(batch_size.ptr(), &overflow);
    if (overflow > 0) return n;
    if (overflow < 0 || bs < 1) throw py::value_error("batch_size must be None or an integer >= 1, got " + std::string(py::repr(batch_size)));
    return static_cast<idx>(std::min<long long>(bs, n));
}

// The options of one train call, as given (every one is required: the defaults live in the
// estimator's parameter table, backprop._params).
struct TrainArgs {
    std::string activation;
    double alpha;
    py::object batch_size;
    py::object order;
    std::string solver;
    double momentum;
    bool nesterov;
    double beta_1, beta_2, epsilon;
    py::list solver_state;
    py::object counters;
    py::object tol;
    long long n_iter_no_change;
    py::object epoch_hook;
    py::object output;
    py::object sample_weight;
    bool average_outputs;
    std::optional<bool> huge_inputs;
};

template <class T>
py::tuple train_impl(const py::array& X_, const py::array& y_, const py::list& weights, double learning_rate,
                     long long max_iter, int n_threads, const TrainArgs& a) {
    auto X = require<T>(X_, "X", 2);
    const idx n = X.shape(0), d = X.shape(1);
    if (n < 1 || d < 1) throw py::value_error("X must have at least one sample and one feature, got shape " + shape_str(X));
    if (!has_dtype<T>(y_))
        throw py::type_error("y must have dtype " + std::string(py::str(py::dtype::of<T>())) + ", got " +
                             std::string(py::str(y_.dtype())));
    if (!std::isfinite(learning_rate)) throw py::value_error("learning_rate must be finite");
    if (max_iter < 0) throw py::value_error("max_iter must be >= 0");
    if (n_threads < 1) throw py::value_error("n_threads must be >= 1");
    auto W = require_weights<T>(weights, /*writeable=*/true);
    const Shape s = check_weights<T>(W, d, /*need_single_output=*/false);
    idx ldy = 1;
    auto y = require_targets<T>(y_, n, s, ldy);

    TrainOptions<T> o;
    o.act = parse_activation(a.activation);
    o.loss = parse_output(a.output, s.m.back());
    const std::optional<py::array_t<T>> sw = require_sample_weight<T>(a.sample_weight, n);
    o.sample_weight = sw ? sw->data() : nullptr;
    o.average_outputs = a.average_outputs;
    o.huge_inputs = a.huge_inputs;
    o.solver = parse_solver(a.solver);
    o.learning_rate = learning_rate;
    o.max_iter = static_cast<idx>(max_iter);
    o.n_threads = n_threads;
    check_real(a.alpha, "alpha", a.alpha >= 0, "[0, inf)");
    o.alpha = a.alpha;
    if (!a.batch_size.is_none()) o.batch_size = batch_rows(a.batch_size, n);
    const py::array_t<std::int64_t> order = require_order(a.order, n, max_iter, o.order, o.order_stride);
    check_real(a.momentum, "momentum", a.momentum >= 0 && a.momentum <= 1, "[0, 1]");
    o.momentum = a.momentum;
    o.nesterov = a.nesterov;
    check_real(a.beta_1, "beta_1", a.beta_1 >= 0 && a.beta_1 < 1, "[0, 1)");
    check_real(a.beta_2, "beta_2", a.beta_2 >= 0 && a.beta_2 < 1, "[0, 1)");
    check_real(a.epsilon, "epsilon", a.epsilon > 0, "(0, inf)");
    o.beta1 = a.beta_1;
    o.beta2 = a.beta_2;
    o.epsilon = a.epsilon;
    if (!a.tol.is_none()) {
        if (!PyFloat_Check(a.tol.ptr()) && !PyLong_Check(a.tol.ptr()))
            throw py::type_error("tol must be None or a number, got " + std::string(py::str(py::type::of(a.tol).attr("__name__"))));
        const double tol = a.tol.cast<double>();
        if (!std::isfinite(tol)) throw py::value_error("tol must be None or a finite number");
        o.tol = tol;
    }
    if (a.n_iter_no_change < 1) throw py::value_error("n_iter_no_change must be >= 1");
    o.n_iter_no_change = static_cast<idx>(a.n_iter_no_change);

    const std::vector<py::array_t<T>> state = require_solver_state<T>(a.solver_state, o.solver, a.solver, W, o.state);
    py::array_t<double> counters;
    if (!a.counters.is_none()) {
        counters = require<double>(a.counters.cast<py::array>(), "counters", 1, /*writeable=*/true);
        if (counters.shape(0) != 3)
            throw py::value_error("counters must have shape (3,) ([t, best_loss, no_improvement_count]), got " +
                                  shape_str(counters));
        o.counters = counters.mutable_data();
    }
    // The weights and the solver state are written while X, y, order and each other are read: no
    // two may share memory.
    std::vector<py::array> read = {X, y};
    if (sw) read.push_back(*sw);
    check_train_overlap(W, state, o.counters ? py::object(counters) : py::none(), read,
                        o.order ? py::object(order) : py::none());

    std::vector<T*> Wp;
    for (auto& w : W) Wp.push_back(w.mutable_data());
    py::array_t<T> loss(static_cast<py::ssize_t>(max_iter));
    T* loss_ptr = loss.mutable_data();
    const T* Xp = X.data();
    const T* yp = y.data();

    bool hook_failed = false;
    auto last = std::chrono::steady_clock::now();
    set_callbacks(o, a.epoch_hook, hook_failed, last);
    TrainResult r;
    {
        py::gil_scoped_release release;
        r = train<T>(Xp, yp, ldy, n, s, Wp, loss_ptr, o);
    }
    if (r.interrupted || hook_failed) throw py::error_already_set();
    loss.resize({static_cast<py::ssize_t>(r.n_iter)});
    return py::make_tuple(loss, r.n_iter);
}

// The mean loss and its gradient dJ/dW_l at the given weights (full batch, no update): (loss,
// [dJ/dW_l]); with_gradient false: the loss alone (a float), by the forward pass.
template <class T>
py::object loss_and_gradient_impl(const py::array& X_, const py::array& y_, const py::list& weights, int n_threads,
                                  const std::string& activation, double alpha, const py::object& output,
                                  const py::object& sample_weight, bool average_outputs, std::optional<bool> huge_inputs,
                                  bool with_gradient) {
    auto X = require<T>(X_, "X", 2);
    const idx n = X.shape(0), d = X.shape(1);
    if (n < 1 || d < 1) throw py::value_error("X must have at least one sample and one feature, got shape " + shape_str(X));
    if (n_threads < 1) throw py::value_error("n_threads must be >= 1");
    auto W = require_weights<T>(weights, /*writeable=*/false);
    const Shape s = check_weights<T>(W, d, /*need_single_output=*/false);
    idx ldy = 1;
    auto y = require_targets<T>(y_, n, s, ldy);
    const Act act = parse_activation(activation);
    const Loss loss_kind = parse_output(output, s.m.back());
    const std::optional<py::array_t<T>> sw = require_sample_weight<T>(sample_weight, n);
    const T* wp = sw ? sw->data() : nullptr;
    check_real(alpha, "alpha", alpha >= 0, "[0, inf)");
    py::list grads;
    std::vector<T*> G;
    std::vector<const T*> Wp;
    for (std::size_t l = 0; l < W.size(); ++l) {
        if (with_gradient) {
            py::array_t<T> g({W[l].shape(0), W[l].shape(1)});
            G.push_back(g.mutable_data());
            grads.append(g);
        }
        Wp.push_back(W[l].data());
    }
    const T* Xp = X.data();
    const T* yp = y.data();
    double loss = 0.0;
    {
        py::gil_scoped_release release;
        loss = with_gradient ? loss_and_gradient<T>(Xp, yp, ldy, n, s, Wp, act, loss_kind, wp, average_outputs, alpha,
                                                    n_threads, G, huge_inputs)
                             : loss_at<T>(Xp, yp, ldy, n, s, Wp, act, loss_kind, wp, average_outputs, alpha,
                                          n_threads, huge_inputs);
    }
    if (!with_gradient) return py::float_(loss);
    return py::make_tuple(loss, grads);
}

template <class T>
py::object predict_impl(const py::array& X_, const py::list& weights, int n_threads, bool two_columns,
                       bool check_finite, Act act, const OutputChoice& output) {
    auto X = require<T>(X_, "X", 2);
    const idx n = X.shape(0), d = X.shape(1);
    if (d < 1) throw py::value_error("X must have at least one feature");
    if (n_threads < 1) throw py::value_error("n_threads must be >= 1");
    auto W = require_weights<T>(weights, false);
    const Shape s = check_weights<T>(W, d, /*need_single_output=*/false);
    const idx n_out = s.m.back();
    const Loss loss = output_loss(output, n_out);
    if (n_out >= 2 || loss != Loss::binary_log) two_columns = false;  // [1 - p, p] is one sigmoid unit's
    if (check_finite) {
        if (!all_finite(X.data(), n * d)) throw py::value_error("X contains NaN or infinity");
        if (may_overflow(X.data(), n, d, W[0].data(), s.m[0])) return py::none();  // caller takes the exact path
    }
    std::vector<const T*> Wp;
    Wp.reserve(W.size());
    for (auto& w : W) Wp.push_back(w.data());
    py::array_t<T> out = two_columns || n_out >= 2
                             ? py::array_t<T>({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(two_columns ? 2 : n_out)})
                             : py::array_t<T>(static_cast<py::ssize_t>(n));
    T* op = out.mutable_data();
    const T* Xp = X.data();
    if (n > 0) {
        py::gil_scoped_release release;
        predict_proba<T>(Xp, n, s, Wp, op, n_threads, act, loss, two_columns);
    }
    return out;
}

template <class T>
py::array_t<T> forward_impl(const py::array& a_prev_, const py::array& W_, const std::string& activation) {
    const Act act = parse_activation(activation);
    auto a_prev = require<T>(a_prev_, "a_prev", 2);
    auto W = require<T>(W_, "W", 2);
    const idx n = a_prev.shape(0), k = a_prev.shape(1), m = W.shape(0);
    if (W.shape(1) != k + 1)
        throw py::value_error("W must have shape (n_out, n_in + 1) = (" + std::to_string(m) + ", " +
                              std::to_string(k + 1) + "), got " + shape_str(W));
    py::array_t<T> a({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(m)});
    T* ap = a.mutable_data();
    const T *a_prevp = a_prev.data(), *Wp = W.data();
    {
        py::gil_scoped_release release;
        dense_layer_forward<T>(ap, a_prevp, Wp, n, k, m, act);
    }
    return a;
}

template <class T>
py::tuple backward_impl(const py::array& a_prev_, const py::array& W_, const py::array& delta_, bool need_delta_prev,
                        const std::string& activation) {
    const Act act = parse_activation(activation);
    auto a_prev = require<T>(a_prev_, "a_prev", 2);
    auto W = require<T>(W_, "W", 2);
    auto delta = require<T>(delta_, "delta", 2);
    const idx n = a_prev.shape(0), k = a_prev.shape(1), m = W.shape(0);
    if (W.shape(1) != k + 1)
        throw py::value_error("W must have shape (n_out, n_in + 1) = (" + std::to_string(m) + ", " +
                              std::to_string(k + 1) + "), got " + shape_str(W));
    if (delta.shape(0) != n || delta.shape(1) != m)
        throw py::value_error("delta must have shape (n, n_out) = (" + std::to_string(n) + ", " + std::to_string(m) +
                              "), got " + shape_str(delta));
    if (n == 0) throw py::value_error("a_prev must have at least one sample");
    py::array_t<T> dW({static_cast<py::ssize_t>(m), static_cast<py::ssize_t>(k + 1)});
    py::object delta_prev = py::none();
    T* dpp = nullptr;
    if (need_delta_prev) {
        py::array_t<T> dp({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
        dpp = dp.mutable_data();
        delta_prev = dp;
    }
    T* dWp = dW.mutable_data();
    const T *a_prevp = a_prev.data(), *Wp = W.data(), *deltap = delta.data();
    {
        py::gil_scoped_release release;
        dense_layer_backward<T>(dWp, dpp, a_prevp, Wp, deltap, n, k, m, act);
    }
    return py::make_tuple(dW, delta_prev);
}

template <class T>
py::array_t<T> sigmoid_impl(const py::array& z_) {
    auto z = require<T>(z_, "z", 1);
    py::array_t<T> out(z.shape(0));
    std::copy(z.data(), z.data() + z.shape(0), out.mutable_data());
    sigmoid_inplace(out.mutable_data(), z.shape(0));
    return out;
}

// f(z) of a 1-D array by the vector kernels (sigmoid, tanh, relu, identity), or the softmax of
// each row of a 2-D array.
template <class T>
py::array_t<T> activation_impl(const py::array& z_, const std::string& name) {
    if (name == "softmax") {
        auto z = require<T>(z_, "z", 2);
        const idx n = z.shape(0), m = z.shape(1);
        if (m < 1) throw py::value_error("z must have at least one column");
        py::array_t<T> out({z.shape(0), z.shape(1)});
        std::copy(z.data(), z.data() + n * m, out.mutable_data());
        std::vector<T> tmp(static_cast<std::size_t>(64 * m));
        softmax_rows(n, out.mutable_data(), m, m, tmp.data());
        return out;
    }
    const Act act = parse_activation(name);
    auto z = require<T>(z_, "z", 1);
    const idx n = z.shape(0);
    py::array_t<T> out(n);
    std::copy(z.data(), z.data() + n, out.mutable_data());
    act_inplace(act, out.mutable_data(), n);
    return out;
}

template <class T>
double log_loss_impl(const py::array& p_, const py::array& y_) {
    auto p = require<T>(p_, "p", 1);
    auto y = require<T>(y_, "y", 1);
    const idx n = p.shape(0);
    if (y.shape(0) != n) throw py::value_error("p and y have different lengths");
    if (n == 0) throw py::value_error("p must not be empty");
    Buffer<T> tmp(n);
    return binary_log_loss_mean<T>(n, p.data(), y.data(), tmp.get());
}

// Dispatch on the dtype of the first array argument.
template <class F64, class F32>
auto dispatch(const py::array& first, const char* name, F64 f64, F32 f32) {
    if (is_float64(first)) return f64();
    if (is_float32(first)) return f32();
    throw py::type_error(std::string(name) + " must have dtype float64 or float32, got " + std::string(py::str(first.dtype())));
}

// predict_proba's dtype dispatch, shared by predict_proba and predictor.
py::object predict(const py::array& X, const py::list& weights, int n_threads, bool two_columns, bool check_finite,
                   Act act, const OutputChoice& output) {
    return dispatch(
        X, "X", [&] { return predict_impl<double>(X, weights, n_threads, two_columns, check_finite, act, output); },
        [&] { return predict_impl<float>(X, weights, n_threads, two_columns, check_finite, act, output); });
}

// ---------------------------------------------------------------------------------------------
// The estimator's lane for small inputs: predict_lane(state, X, two_columns, checked).
//
// One CPython call (METH_FASTCALL: no argument parsing, no temporary objects) reads the fitted
// estimator's __dict__ and X's header, and answers when everything is the common case: a fitted
// model on the C++ backend (n_threads None or an int, a known activation; with `checked`, no
// feature names), X an ndarray of the weights' dtype, 2-D, C-contiguous, aligned, with the
// model's features, and few enough rows for one thread.  Anything else gives None, and the
// caller takes its general path, which checks (and reports) everything itself: this lane never
// decides an error but the one that path would raise first on the same input ("X contains NaN
// or infinity", when `checked`).  With `checked`, inputs so large that a first-layer sum could
// overflow give None too (the exact path); without, X is taken as finite (predict_proba_unchecked).
// A fresh output array per call and no other allocation; the GIL is released only for work
// long enough to be worth it; no thread is started.
constexpr idx kLaneLayers = 32;       // deeper networks take the general path
constexpr idx kRowsDirect = 4;        // up to this many rows: predict_rows (no packing)
constexpr idx kLaneGilWork = 1 << 16;  // multiply-adds above which the GIL is released
constexpr idx kLaneStack = 2048;      // scratch values on the stack (more: thread_scratch)

struct LaneNames {
    PyObject *weights, *classes, *n_features, *feature_names, *backend, *activation, *n_threads, *cpp;
    PyObject* acts[4];  // in Act order
};
LaneNames lane_names;

void init_lane_names() {
    auto intern = [](const char* s) {
        PyObject* o = PyUnicode_InternFromString(s);
        if (!o) throw py::error_already_set();
        return o;  // kept for the life of the process
    };
    lane_names = {intern("weights_"), intern("classes_"), intern("n_features_in_"), intern("feature_names_in_"),
                  intern("backend"), intern("activation"), intern("n_threads"), intern("cpp"),
                  {intern("sigmoid"), intern("tanh"), intern("relu"), intern("identity")}};
}

// Whether o is the str `name` (interned: usually the same object).
bool is_str(PyObject* o, PyObject* name) {
    return o == name || (PyUnicode_CheckExact(o) && PyUnicode_Compare(o, name) == 0);
}

// dtype number of an array (an ndarray itself when `exact`, else possibly of a subclass) with
// ndim dimensions, native byte order, C-contiguous and aligned, or -1.
int plain_array_type(PyObject* o, int ndim, bool exact) {
    const auto& api = py::detail::npy_api::get();
    if (exact ? Py_TYPE(o) != api.PyArray_Type_ : !api.PyArray_Check_(o)) return -1;
    const auto* a = py::detail::array_proxy(o);
    constexpr int need = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
    if (a->nd != ndim || (a->flags & need) != need) return -1;
    const auto* d = py::detail::array_descriptor_proxy(a->descr);
    return d->byteorder == '=' ? d->type_num : -1;
}

template <class T>
PyObject* lane_impl(PyObject* X, PyObject* weights, Act act, bool two_columns, bool checked) {
    const auto& api = py::detail::npy_api::get();
    const int type = py::detail::npy_format_descriptor<T>::value;
    const auto* xa = py::detail::array_proxy(X);
    const idx n = xa->dimensions[0], d = xa->dimensions[1];
    const idx L = PyList_GET_SIZE(weights);
    if (d < 1 || L < 1 || L > kLaneLayers) Py_RETURN_NONE;
    const T* W[kLaneLayers];
    idx m[kLaneLayers];
    idx k = d, work = 0;
    // The weight arrays are held while they are read: with the GIL released, another thread may
    // replace weights_ or its items, which would free the arrays that the list alone held.
    PyObject* held[kLaneLayers];
    idx n_held = 0;
    struct Release {
        PyObject** objects;
        const idx& count;
        ~Release() {
            for (idx i = 0; i < count; ++i) Py_DECREF(objects[i]);
        }
    } release_held{held, n_held};
    for (idx l = 0; l < L; ++l) {
        PyObject* w = PyList_GET_ITEM(weights, l);
        if (plain_array_type(w, 2, false) != type) Py_RETURN_NONE;  // as require<T> takes them
        const auto* wa = py::detail::array_proxy(w);
        if (wa->dimensions[1] != k + 1 || wa->dimensions[0] < 1) Py_RETURN_NONE;
        Py_INCREF(w);
        held[n_held++] = w;
        W[l] = reinterpret_cast<const T*>(wa->data);
        m[l] = wa->dimensions[0];
        work += k * m[l];
        k = m[l];
    }
    if (predict_threads(n, work, 2) > 1) Py_RETURN_NONE;  // large: the caller knows the threads
    const T* x = reinterpret_cast<const T*>(xa->data);
    if (checked) {
        if (!all_finite(x, n * d)) {
            PyErr_SetString(PyExc_ValueError, "X contains NaN or infinity");
            return nullptr;
        }
        if (may_overflow(x, n, d, W[0], m[0])) Py_RETURN_NONE;  // the exact path
    }
    const idx n_out = m[L - 1];
    const Loss loss = loss_for_outputs(n_out);
    two_columns = two_columns && n_out == 1;
    Py_intptr_t dims[2] = {static_cast<Py_intptr_t>(n), static_cast<Py_intptr_t>(two_columns ? 2 : n_out)};
    PyObject* out = api.PyArray_NewFromDescr_(api.PyArray_Type_, api.PyArray_DescrFromType_(type),
                                              two_columns || n_out >= 2 ? 2 : 1, dims, nullptr, nullptr, 0, nullptr);
    if (!out || n == 0) return out;
    T* p = reinterpret_cast<T*>(py::detail::array_proxy(out)->data);
    try {
        std::optional<py::gil_scoped_release> release;
        if (n * work >= kLaneGilWork) release.emplace();
        if (n <= kRowsDirect) {
            const idx need = predict_rows_scratch<T>(L, m);
            alignas(64) T stack[kLaneStack];
            T* scratch = need <= kLaneStack ? stack : thread_scratch<T>(static_cast<std::size_t>(need));
            predict_rows<T>(x, n, d, L, W, m, p, act, loss, two_columns, scratch);
        } else {
            Shape s;
            s.n_features = d;
            std::vector<const T*> Wp(W, W + L);
            for (idx l = 0; l < L; ++l) {
                s.k.push_back(l == 0 ? d : m[l - 1]);
                s.m.push_back(m[l]);
            }
            predict_proba<T>(x, n, s, Wp, p, 1, act, loss, two_columns);
        }
    } catch (const std::bad_alloc&) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    return out;
}

PyObject* predict_lane(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "predict_lane(state, X, two_columns, checked) takes 4 arguments");
        return nullptr;
    }
    PyObject *state = args[0], *X = args[1];
    const bool two_columns = PyObject_IsTrue(args[2]) == 1, checked = PyObject_IsTrue(args[3]) == 1;
    if (!PyDict_CheckExact(state)) Py_RETURN_NONE;
    const int type = plain_array_type(X, 2, true);  // a subclass is the general path's
    if (type != py::detail::npy_api::NPY_DOUBLE_ && type != py::detail::npy_api::NPY_FLOAT_) Py_RETURN_NONE;
    const LaneNames& k = lane_names;
    // borrowed references; a lookup that fails (it cannot: the keys are str) also gives None
    PyObject* weights = PyDict_GetItemWithError(state, k.weights);
    PyObject* classes = PyDict_GetItemWithError(state, k.classes);
    PyObject* n_features = PyDict_GetItemWithError(state, k.n_features);
    PyObject* backend = PyDict_GetItemWithError(state, k.backend);
    PyObject* activation = PyDict_GetItemWithError(state, k.activation);
    PyObject* n_threads = PyDict_GetItemWithError(state, k.n_threads);
    if (PyErr_Occurred()) return nullptr;
    if (!weights || !PyList_CheckExact(weights) || !classes || classes == Py_None || !n_features ||
        !PyLong_CheckExact(n_features) || !backend || !is_str(backend, k.cpp) || !activation || !n_threads)
        Py_RETURN_NONE;
    if (checked && PyDict_GetItemWithError(state, k.feature_names)) Py_RETURN_NONE;  // the general path compares names
    if (PyErr_Occurred()) return nullptr;
    int overflow = 0;
    const long long features = PyLong_AsLongLongAndOverflow(n_features, &overflow);
    if (overflow || features != py::detail::array_proxy(X)->dimensions[1]) Py_RETURN_NONE;
    if (n_threads != Py_None) {  // one thread runs small inputs; other values are the general path's to judge
        const long long t = PyLong_CheckExact(n_threads) ? PyLong_AsLongLongAndOverflow(n_threads, &overflow) : 0;
        if (overflow || t < 1 || t > std::numeric_limits<int>::max()) Py_RETURN_NONE;
    }
    int a = 0;
    while (a < 4 && !is_str(activation, k.acts[a])) ++a;
    if (a == 4) Py_RETURN_NONE;
    const Act act = static_cast<Act>(a);
    if (type == py::detail::npy_api::NPY_DOUBLE_) return lane_impl<double>(X, weights, act, two_columns, checked);
    return lane_impl<float>(X, weights, act, two_columns, checked);
}

PyMethodDef predict_lane_def = {
    "predict_lane", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&predict_lane)), METH_FASTCALL,
    "predict_lane(state: dict, X: object, two_columns: bool, checked: bool) -> Optional[numpy.ndarray]\n\n"
    "The estimator's prediction lane for small inputs (state: the fitted estimator's __dict__); None when\n"
    "the input is not the common case (the caller then takes its general path).  Raises ValueError only\n"
    "for non-finite X when checked."};

}  // namespace

#define BACKPROP_STRINGIFY(x) #x
#define BACKPROP_MACRO_STRINGIFY(x) BACKPROP_STRINGIFY(x)

PYBIND11_MODULE(_core, m) {
    m.doc() = "backprop._core: C++ kernels of backprop (private; use backprop.NeuralNetwork).";
    m.attr("__version__") = BACKPROP_MACRO_STRINGIFY(VERSION_INFO);  // the project version CMake compiles in
    m.attr("simd_width_bytes") = kVecBytes;
#if defined(__AVX512F__)
    m.attr("isa") = "avx512";
#elif defined(__AVX2__)
    m.attr("isa") = "avx2";
#else
    m.attr("isa") = "baseline";
#endif
    m.def("default_threads", &default_threads, "Number of hardware threads (the default n_threads).");
    // the rule predict_proba splits its rows by, for callers that size a team themselves
    m.attr("MIN_WORK_PER_THREAD") = static_cast<long long>(kMinWorkPerThread);

    m.def(
        "train",
        [](const py::array& X, const py::array& y, const py::list& weights, double learning_rate, long long max_iter,
           int n_threads, const std::string& activation, double alpha, const py::object& batch_size,
           const py::object& order, const std::string& solver, double momentum, bool nesterov, double beta_1,
           double beta_2, double epsilon, const py::list& solver_state, const py::object& counters,
           const py::object& tol, long long n_iter_no_change, const py::object& epoch_hook, const py::object& output,
           const py::object& sample_weight, bool average_outputs, std::optional<bool> huge_inputs) {
            TrainArgs a;
            a.activation = activation;
            a.alpha = alpha;
            a.batch_size = batch_size;
            a.order = order;
            a.solver = solver;
            a.momentum = momentum;
            a.nesterov = nesterov;
            a.beta_1 = beta_1;
            a.beta_2 = beta_2;
            a.epsilon = epsilon;
            a.solver_state = solver_state;
            a.counters = counters;
            a.tol = tol;
            a.n_iter_no_change = n_iter_no_change;
            a.epoch_hook = epoch_hook;
            a.output = output;
            a.sample_weight = sample_weight;
            a.average_outputs = average_outputs;
            a.huge_inputs = huge_inputs;
            return dispatch(
                X, "X", [&] { return train_impl<double>(X, y, weights, learning_rate, max_iter, n_threads, a); },
                [&] { return train_impl<float>(X, y, weights, learning_rate, max_iter, n_threads, a); });
        },
        py::arg("X"), py::arg("y"), py::arg("weights"), py::arg("learning_rate"), py::arg("max_iter"),
        py::arg("n_threads"), py::kw_only(), py::arg("activation"), py::arg("alpha"), py::arg("batch_size").none(true),
        py::arg("order").none(true), py::arg("solver"), py::arg("momentum"), py::arg("nesterov"), py::arg("beta_1"),
        py::arg("beta_2"), py::arg("epsilon"), py::arg("solver_state"), py::arg("counters").none(true),
        py::arg("tol").none(true), py::arg("n_iter_no_change"), py::arg("epoch_hook").none(true),
        py::arg("output").none(true) = py::none(), py::arg("sample_weight").none(true) = py::none(),
        py::arg("average_outputs") = false, py::arg("huge_inputs").none(true) = py::none(),
        R"pbdoc(Trains the network in place for max_iter epochs (numpy twin: backprop.reference.train).

X (n, d) C-contiguous float64 or float32; y: (n,) labels in {0, 1} when the last weight matrix
has one row (sigmoid output), else (n, m_L) one-hot rows (softmax output), or the targets of
the output given by `output` ((n,) for one output unit); weights: list of
C-contiguous writeable (m_l, k_l + 1) arrays of X's dtype, updated in place.  Keywords (all
required; NeuralNetwork's parameter table holds their defaults): hidden
activation, L2 alpha, batch_size (None: full batch), order (int64 permutation of the rows that
the batches follow), solver ('gd', 'momentum', 'adam') with its parameters and solver_state
(momentum: V_l; adam: M_l then S_l; updated in place), counters (float64 (3,): adam step, best
loss, epochs without improvement; updated in place), tol (None: off) and n_iter_no_change;
order may also be (max_iter, n), one permutation per epoch; epoch_hook(epoch, loss) is called
after each epoch (thread 0, GIL held, weights updated) and stops training by returning False.
output: None (one sigmoid unit, or a softmax over m_L >= 2) or 'logistic' (m_L >= 1
independent sigmoids), 'softmax', 'identity' (half squared error), 'exp' (half Poisson
deviance); sample_weight: None or (n,) weights >= 0, not all zero, converted to X's dtype;
average_outputs: the recorded loss divides the data term by m_L (scikit-learn's reported
squared error), the gradient unchanged; huge_inputs: has_huge_values(X) when the caller knows it
(None: X is scanned; a wrong answer gives wrong sums for rows whose first-layer sums overflow,
never unsafe memory).
Returns (loss_curve, n_iter): the loss of each epoch run.)pbdoc");

    for (const bool with_gradient : {true, false})
        m.def(
            with_gradient ? "loss_and_gradient" : "loss",
            [with_gradient](const py::array& X, const py::array& y, const py::list& weights, int n_threads,
                            const std::string& activation, double alpha, const py::object& output,
                            const py::object& sample_weight, bool average_outputs, std::optional<bool> huge_inputs) {
                return dispatch(
                    X, "X",
                    [&] {
                        return loss_and_gradient_impl<double>(X, y, weights, n_threads, activation, alpha, output,
                                                              sample_weight, average_outputs, huge_inputs,
                                                              with_gradient);
                    },
                    [&] {
                        return loss_and_gradient_impl<float>(X, y, weights, n_threads, activation, alpha, output,
                                                             sample_weight, average_outputs, huge_inputs,
                                                             with_gradient);
                    });
            },
            py::arg("X"), py::arg("y"), py::arg("weights"), py::arg("n_threads"), py::kw_only(), py::arg("activation"),
            py::arg("alpha"), py::arg("output").none(true) = py::none(), py::arg("sample_weight").none(true) = py::none(),
            py::arg("average_outputs") = false, py::arg("huge_inputs").none(true) = py::none(),
            with_gradient
                ? R"pbdoc((loss, [dJ/dW_l]) at the given weights over the whole of X, y (as train's, output,
sample_weight and average_outputs included), weights unchanged.  huge_inputs: has_huge_values(X)
when the caller knows it (None: X is scanned; a wrong answer gives wrong sums for rows whose
first-layer sums overflow, never unsafe memory).)pbdoc"
                : R"pbdoc(loss_and_gradient's loss alone, bit for bit, by the forward pass (no gradient);
the same arguments.)pbdoc");

    m.def(
        "has_huge_values",
        [](const py::array& X) {
            return dispatch(
                X, "X",
                [&] {
                    auto A = require<double>(X, "X", X.ndim() == 1 ? 1 : 2);
                    py::gil_scoped_release release;
                    return has_huge_values<double>(A.data(), static_cast<idx>(A.size()));
                },
                [&] {
                    auto A = require<float>(X, "X", X.ndim() == 1 ? 1 : 2);
                    py::gil_scoped_release release;
                    return has_huge_values<float>(A.data(), static_cast<idx>(A.size()));
                });
        },
        py::arg("X"),
        R"pbdoc(Whether some |x| of the C-contiguous 1-D or 2-D float array X reaches the square root of
its dtype's largest value: the rule by which training takes the overflow-safe first layer.)pbdoc");

    m.def(
        "scan_values",
        [](const py::array& X, int n_threads) {
            if (n_threads < 1) throw py::value_error("n_threads must be >= 1");
            const ValueScan r = dispatch(
                X, "X",
                [&] {
                    auto A = require<double>(X, "X", X.ndim() == 1 ? 1 : 2);
                    py::gil_scoped_release release;
                    return scan_values_parallel<double>(A.data(), static_cast<idx>(A.size()), n_threads);
                },
                [&] {
                    auto A = require<float>(X, "X", X.ndim() == 1 ? 1 : 2);
                    py::gil_scoped_release release;
                    return scan_values_parallel<float>(A.data(), static_cast<idx>(A.size()), n_threads);
                });
            return py::make_tuple(r.finite, r.huge);
        },
        py::arg("X"), py::arg("n_threads") = 1,
        R"pbdoc((finite, huge) of the C-contiguous 1-D or 2-D float array X in one pass, on up to n_threads
threads: whether every value is finite, and has_huge_values(X) when it is (when it is not, huge
may be False wrongly: the pass stops at the first chunk with a value that is not finite).)pbdoc");

    m.def(
        "predict_proba",
        [](const py::array& X, const py::list& weights, int n_threads, bool two_columns, bool check_finite,
           const std::string& activation, const py::object& output) {
            return predict(X, weights, n_threads, two_columns, check_finite, parse_activation(activation),
                           parse_output_name(output));
        },
        py::arg("X"), py::arg("weights"), py::arg("n_threads"), py::arg("two_columns"), py::arg("check_finite"),
        py::arg("activation"), py::arg("output").none(true) = py::none(),
        R"pbdoc(P(class 1) for each row of X (n, d): the network's forward pass, as an (n,) array, or
as (n, 2) columns [1 - p, p] with two_columns=True.  check_finite=True raises ValueError when X
holds NaN or infinity, and returns None when values are so large that a first-layer sum could
overflow (the estimator then takes its exact path).  When the last weight matrix has m >= 2
rows (a softmax output), returns the (n, m) softmax rows (two_columns is ignored).
activation: the hidden layers' function; output: the output layer as train's (identity: z,
exp: exp(z); two_columns only for one sigmoid unit), (n,) for one output unit.)pbdoc");

    m.def(
        "predictor",
        [](const std::string& activation, const py::object& output) {
            const Act act = parse_activation(activation);
            const OutputChoice out = parse_output_name(output);
            return py::cpp_function(
                [act, out](const py::array& X, const py::list& weights, int n_threads, bool two_columns,
                           bool check_finite) {
                    return predict(X, weights, n_threads, two_columns, check_finite, act, out);
                },
                py::arg("X"), py::arg("weights"), py::arg("n_threads"), py::arg("two_columns"), py::arg("check_finite"));
        },
        py::arg("activation"), py::arg("output").none(true) = py::none(),
        R"pbdoc(predict_proba with the activation bound: f(X, weights, n_threads, two_columns, check_finite).

The estimator's one-row paths call it: matching a keyword costs a third of such a call.)pbdoc");

    init_lane_names();
    m.add_object("predict_lane",
                 py::reinterpret_steal<py::object>(PyCFunction_NewEx(&predict_lane_def, nullptr, m.ptr())));

    m.def(
        "dense_forward",
        [](const py::array& a_prev, const py::array& W, const std::string& activation) {
            return dispatch(
                a_prev, "a_prev", [&] { return py::object(forward_impl<double>(a_prev, W, activation)); },
                [&] { return py::object(forward_impl<float>(a_prev, W, activation)); });
        },
        py::arg("a_prev"), py::arg("W"), py::kw_only(), py::arg("activation"),
        "a = f(a_prev @ W[:, 1:].T + W[:, 0]) (f the activation); a_prev (n, k), W (m, k + 1).");

    m.def(
        "dense_backward",
        [](const py::array& a_prev, const py::array& W, const py::array& delta, bool need_delta_prev,
           const std::string& activation) {
            return dispatch(
                a_prev, "a_prev", [&] { return backward_impl<double>(a_prev, W, delta, need_delta_prev, activation); },
                [&] { return backward_impl<float>(a_prev, W, delta, need_delta_prev, activation); });
        },
        py::arg("a_prev"), py::arg("W"), py::arg("delta"), py::arg("need_delta_prev"), py::kw_only(),
        py::arg("activation"),
        R"pbdoc((dW, delta_prev): dW[:, 0] = delta.sum(0) / n, dW[:, 1:] = delta.T @ a_prev / n,
delta_prev = (delta @ W[:, 1:]) * f'(z_prev) written through a_prev = f(z_prev) (sigmoid:
a_prev * (1 - a_prev)) (None unless need_delta_prev).)pbdoc");

    m.def(
        "activation",
        [](const py::array& z, const std::string& name) {
            return dispatch(
                z, "z", [&] { return py::object(activation_impl<double>(z, name)); },
                [&] { return py::object(activation_impl<float>(z, name)); });
        },
        py::arg("z"), py::arg("name"),
        "f(z) of a 1-D array by the vector kernels (name: sigmoid, tanh, relu, identity), or name='softmax' of each row of a 2-D array.");

    m.def(
        "sigmoid",
        [](const py::array& z) {
            return dispatch(
                z, "z", [&] { return py::object(sigmoid_impl<double>(z)); },
                [&] { return py::object(sigmoid_impl<float>(z)); });
        },
        py::arg("z"), "Stable elementwise sigmoid of a 1-D array (the kernel the layers use).");

    m.def(
        "binary_log_loss",
        [](const py::array& p, const py::array& y) {
            return dispatch(
                p, "p", [&] { return log_loss_impl<double>(p, y); }, [&] { return log_loss_impl<float>(p, y); });
        },
        py::arg("p"), py::arg("y"), "Mean binary log-loss of probabilities p (n,) against labels y (n,) in {0, 1}.");
}

// ------------------------------------------------------------------------- threadpoolctl's controller
// The limit on the threads of n_threads=None that threadpoolctl sets through the controller
// backprop._threadpool registers (which finds this library by these two symbols, and keeps the
// same value where the estimator reads it).  0: no limit.  get returns the limit, or the
// hardware threads when there is none.
#include <atomic>

#if defined(_WIN32)
#define BACKPROP_EXPORT extern "C" __declspec(dllexport)
#else
#define BACKPROP_EXPORT extern "C" __attribute__((visibility("default")))
#endif

namespace {
std::atomic<int> thread_limit{0};
}

BACKPROP_EXPORT int backprop_get_num_threads(void) {
    static const int hardware = default_threads();  // asking the system costs microseconds
    const int limit = thread_limit.load(std::memory_order_relaxed);
    return limit > 0 ? limit : hardware;
}

BACKPROP_EXPORT void backprop_set_num_threads(int n) { thread_limit.store(n > 0 ? n : 0, std::memory_order_relaxed); }
