"""AdaBound (Luo et al. 2019) for Keras 3, and :func:`get_optimizer` by name.

AdaBound is Adam whose per-parameter step size is clipped into a band that
shrinks towards ``final_lr`` as training proceeds, so it starts adaptive (Adam) and
ends like SGD.

Example:
    >>> model.compile(optimizer=get_optimizer("adabound", 1e-3), loss=...)
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="koocr")
class AdaBound(keras.optimizers.Optimizer):
    """AdaBound / AMSBound optimizer.

    Per step ``t`` (from 1), with ``m``, ``v`` the Adam moments::

        eta      = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) / (sqrt(v) + epsilon)
        final    = final_lr * lr / base_learning_rate
        eta      = clip(eta, final * (1 - 1/(gamma*t + 1)), final * (1 + 1/(gamma*t)))
        variable -= eta * m

    Scaling ``final_lr`` by ``lr / base_learning_rate`` (as the reference PyTorch code
    does) makes learning-rate schedules and ``ReduceLROnPlateau`` move the SGD
    target too.

    Args:
        learning_rate: Float, schedule or callable; Adam's step size.
        final_lr: The SGD learning rate the bounds converge to (at ``base_learning_rate``).
        beta_1: Decay rate of the first moment.
        beta_2: Decay rate of the second moment.
        gamma: Convergence speed of the bounds (larger -> SGD sooner).
        epsilon: Added to ``sqrt(v)``.
        amsbound: Use the running maximum of ``v`` (AMSBound).
        base_learning_rate: The learning rate ``final_lr`` refers to; defaults to the
            initial ``learning_rate``. Saved in the config so a reloaded optimizer whose
            learning rate has since been reduced keeps the same reference.
        **kwargs: Base optimizer arguments (``weight_decay`` (decoupled), ``clipnorm``,
            ``name`` ...).
    """

    def __init__(
        self,
        learning_rate=1e-3,
        final_lr: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        gamma: float = 1e-3,
        epsilon: float = 1e-8,
        amsbound: bool = False,
        base_learning_rate: float | None = None,
        name: str = "adabound",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if base_learning_rate is None:
            if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
                base_learning_rate = learning_rate(0)
            elif callable(learning_rate):
                base_learning_rate = learning_rate()
            else:
                base_learning_rate = learning_rate
            base_learning_rate = float(ops.convert_to_numpy(base_learning_rate))
        if base_learning_rate <= 0:
            raise ValueError(
                f"base_learning_rate must be > 0. Received: base_learning_rate={base_learning_rate}"
            )
        self.final_lr = final_lr
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.gamma = gamma
        self.epsilon = epsilon
        self.amsbound = amsbound
        self.base_learning_rate = float(base_learning_rate)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        if self.amsbound:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]

        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsbound:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat

        bias_1 = 1 - ops.power(ops.cast(self.beta_1, dtype), t)
        bias_2 = 1 - ops.power(ops.cast(self.beta_2, dtype), t)
        step_size = lr * ops.sqrt(bias_2) / bias_1
        final_lr = self.final_lr * lr / self.base_learning_rate
        lower = final_lr * (1 - 1 / (self.gamma * t + 1))
        upper = final_lr * (1 + 1 / (self.gamma * t))
        eta = ops.clip(step_size / ops.add(ops.sqrt(v), self.epsilon), lower, upper)
        self.assign_sub(variable, ops.multiply(eta, m))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "final_lr": self.final_lr,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "gamma": self.gamma,
                "epsilon": self.epsilon,
                "amsbound": self.amsbound,
                "base_learning_rate": self.base_learning_rate,
            }
        )
        return config


OPTIMIZERS = ("adabound", "adam", "sgd")


def get_optimizer(
    name: str, learning_rate, final_lr: float = 0.1, **kwargs
) -> keras.optimizers.Optimizer:
    """Returns an optimizer by name.

    Args:
        name: ``"adabound"``, ``"adam"`` or ``"sgd"`` (momentum 0.9, Nesterov);
            case-insensitive.
        learning_rate: Float or ``LearningRateSchedule``.
        final_lr: AdaBound's final SGD learning rate (ignored by the others).
        **kwargs: Passed to the optimizer (``weight_decay``, ``clipnorm`` ...).

    Example:
        >>> get_optimizer("sgd", 0.01).nesterov
        True
    """
    key = name.lower() if isinstance(name, str) else name
    if key == "adabound":
        return AdaBound(learning_rate=learning_rate, final_lr=final_lr, **kwargs)
    if key == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, **kwargs)
    if key == "sgd":
        kwargs.setdefault("momentum", 0.9)
        kwargs.setdefault("nesterov", True)
        return keras.optimizers.SGD(learning_rate=learning_rate, **kwargs)
    raise ValueError(f"Unknown optimizer. Expected one of {OPTIMIZERS}. Received: name={name!r}")
