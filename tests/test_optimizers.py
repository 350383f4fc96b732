"""AdaBound and get_optimizer."""

import keras
import numpy as np
import pytest

from koocr.optimizers import AdaBound, get_optimizer


def _regression_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([[1.5], [-2.0], [0.5], [3.0]]) + 0.7).astype("float32")
    return x, y


def _linear_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(1, name="dense")(inputs))


def _apply(optimizer, gradient, steps, start=(1.0, -2.0)):
    variable = keras.Variable(np.array(start, "float32"))
    for _ in range(steps):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
    return keras.ops.convert_to_numpy(variable)


@pytest.mark.parametrize("amsbound", [False, True])
def test_adabound_fits_linear_regression(amsbound):
    keras.utils.set_random_seed(0)
    x, y = _regression_data()
    model = _linear_model()
    model.compile(
        optimizer=AdaBound(learning_rate=0.05, final_lr=0.1, amsbound=amsbound), loss="mse"
    )
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.1 * before


def test_adabound_first_step_is_adam():
    # At t = 1 the band is [~1e-4, ~100] * final_lr: no clipping for |g| ~ 1.
    gradient = np.array([0.3, -1.2], "float32")
    ada = _apply(AdaBound(learning_rate=1e-2), gradient, steps=1)
    adam = _apply(keras.optimizers.Adam(learning_rate=1e-2, epsilon=1e-8), gradient, steps=1)
    np.testing.assert_allclose(ada, adam, rtol=1e-6)


def test_adabound_with_huge_gamma_is_sgd_at_final_lr():
    # gamma -> inf collapses the band onto final_lr; beta_1 = 0 makes m the raw gradient.
    gradient = np.array([0.3, -1.2], "float32")
    out = _apply(AdaBound(learning_rate=1e-3, final_lr=0.05, gamma=1e9, beta_1=0.0), gradient, 3)
    np.testing.assert_allclose(out, np.array([1.0, -2.0]) - 3 * 0.05 * gradient, rtol=1e-5)


def test_adabound_final_lr_follows_learning_rate_changes():
    gradient = np.array([0.3, -1.2], "float32")
    optimizer = AdaBound(learning_rate=1e-3, final_lr=0.05, gamma=1e9, beta_1=0.0)
    optimizer.learning_rate = 2e-3  # e.g. a callback doubling the rate: target doubles too
    out = _apply(optimizer, gradient, 1)
    np.testing.assert_allclose(out, np.array([1.0, -2.0]) - 0.1 * gradient, rtol=1e-5)


def test_adabound_config_round_trip_keeps_base_learning_rate():
    optimizer = AdaBound(learning_rate=1e-3, final_lr=0.2, gamma=1e-2, amsbound=True)
    optimizer.learning_rate = 1e-4
    config = optimizer.get_config()
    assert config["base_learning_rate"] == pytest.approx(1e-3)
    clone = AdaBound.from_config(config)
    assert clone.get_config() == config


def test_adabound_with_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    optimizer = AdaBound(learning_rate=schedule)
    assert optimizer.base_learning_rate == pytest.approx(1e-2)
    _apply(optimizer, np.array([0.3, -1.2], "float32"), steps=2)


def test_compiled_model_saves_and_reloads_optimizer_state(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _regression_data(64)
    model = _linear_model()
    model.compile(optimizer=get_optimizer("adabound", 0.01, final_lr=0.05), loss="mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)

    assert isinstance(loaded.optimizer, AdaBound)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 8
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    # Same state => the next step is identical.
    model.train_on_batch(x[:16], y[:16])
    loaded.train_on_batch(x[:16], y[:16])
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_get_optimizer():
    sgd = get_optimizer("SGD", 0.01)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == 0.9
    assert isinstance(get_optimizer("adam", 1e-3), keras.optimizers.Adam)
    adabound = get_optimizer("AdaBound", 1e-3, final_lr=0.3, weight_decay=1e-4)
    assert adabound.final_lr == 0.3 and adabound.weight_decay == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="rmsprop"):
        get_optimizer("rmsprop", 1e-3)
