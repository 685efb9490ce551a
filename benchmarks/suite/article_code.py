"""The network code of "ML From Scratch, Part 3: Backpropagation", as the article writes it.

This module follows the article's code line for line (its ``sigmoid`` and its ``NeuralNetwork``
class: ``__init__``, ``_random_initialization``, ``fit``, ``predict``, ``predict_proba``,
``forward_propagation``, ``back_propagation``), so that the benchmark suite can time the
article's own implementation beside ``backprop`` and ``backprop.reference``. Its comments are the
article's. One change, which does nothing in float64: the bias column is made in the dtype of the
activations (``np.ones(..., dtype=activation.dtype)``; the article's ``np.ones`` is float64, which
would promote a float32 network to float64 at the first ``np.hstack``, so a float32 cell would
time float64 arithmetic).

The suite gives it the same initial weights as every other contender by overriding
``_random_initialization`` in its trainer (suite/contenders.py: ``ArticleTrainer``), not here.
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class NeuralNetwork:
    def __init__(self,
                 n_hidden=(100,),
                 learning_rate=1.0,
                 max_iter=10,
                 threshold=0.5):
        # a list containing the number of nodes in
        # each hidden layer.
        self.n_hidden = n_hidden
        # the input layer, output layer, and hidden layers.
        self.n_layers = len(n_hidden) + 2

        # gradient descent parameters
        self.learning_rate = float(learning_rate)
        self.max_iter = int(max_iter)
        self.threshold = float(threshold)

    def _random_initialization(self):
        # a small amount of randomization is necessary to
        # break symmetry; otherwise all hidden layers would
        # get updated in lockstep.
        if not self.n_hidden:
            layer_sizes = [(self.n_output, self.n_input + 1)]
        else:
            layer_sizes = [(self.n_hidden[0], self.n_input + 1)]
            previous_size = self.n_hidden[0]

            for size in self.n_hidden[1:]:
                layer_sizes.append((size, previous_size + 1))
                previous_size = size

            layer_sizes.append((self.n_output, previous_size + 1))

        self.layers = [
            [np.random.normal(0, 0.1, size=layer_size), sigmoid]
            for layer_size in layer_sizes
        ]

    def fit(self, X, y):
        self.n_input = X.shape[1]
        self.n_output = 1
        y = np.atleast_2d(y).T

        self._random_initialization()

        # fitting iterations
        for iteration in range(self.max_iter):
            self.forward_propagation(X)
            self.back_propagation(y)

    def predict(self, X):
        y_class_probabilities = self.predict_proba(X)

        return np.where(y_class_probabilities[:, 0] < self.threshold, 0, 1)

    def predict_proba(self, X):
        self.forward_propagation(X)
        return self._activations[-1]

    def forward_propagation(self, X):
        # we will store the activations calculated at each layer
        # because these can be used to efficiently calculate
        # gradients during backpropagation.
        self._activations = []

        # initialize the activation with the given data
        activation = X

        # forward propagation through all layers
        for W, activation_function in self.layers:
            bias = np.ones((activation.shape[0], 1), dtype=activation.dtype)
            activation = np.hstack([bias, activation])
            self._activations.append(activation)
            activation = activation_function(activation @ W.T)

        # the final activation layer does not have a bias node added.
        self._activations.append(activation)

    def back_propagation(self, y):
        # this function relies on self._activations calculated
        # by self.forward_propagation()

        N = y.shape[0]

        # the final prediction is simply activation of the final layer.
        y_hat = self._activations[-1]

        # this first error term is based on the gradient of the loss function:
        # log-loss in our case. Subsequently, error terms will be based on the
        # gradient of the sigmoid function.
        error = y_hat - y

        # we can see where the backpropagation algorithm gets its name: we
        # start at the last layer and work backwards, propagating the error
        # term from each layer to the previous one.
        for layer in range(self.n_layers - 2, -1, -1):
            # calculate the update (delta) for the weight matrix
            a = self._activations[layer]

            delta = (error.T @ a) / N

            # every layer except the output layer has a bias node added.
            if layer != self.n_layers - 2:
                delta = delta[1:, :]

            # propogate the error term back to the previous layer
            W = self.layers[layer][0]
            if layer > 0:

                # every layer except the output layer has a bias node added.
                if layer != self.n_layers - 2:
                    error = error[:, 1:]

                # the a(1-a) is the gradient of the sigmoid function.
                error = (error @ W) * (a * (1 - a))

            # update weights
            W -= self.learning_rate * delta
