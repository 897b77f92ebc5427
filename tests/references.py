"""Independent NumPy / plain-Python references for the schedules.

Written from the published definitions (tensorflow-addons'
`cyclical_learning_rate.py`, PyTorch's `CyclicLR` and `OneCycleLR`), in
float64, without importing keras_lr.
"""

import math

import numpy as np


def tfa_cyclical(step, initial, maximal, step_size, scale_fn, scale_mode):
    """tensorflow-addons' CyclicalLearningRate.__call__, in float64."""
    cycle = math.floor(1 + step / (2 * step_size))
    x = abs(step / step_size - 2 * cycle + 1)
    mode_step = cycle if scale_mode == "cycle" else step
    return initial + (maximal - initial) * max(0.0, 1 - x) * scale_fn(mode_step)


def torch_cyclic(step, base_lr, max_lr, step_size_up, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode=None):
    """PyTorch's CyclicLR.get_lr() at `last_epoch = step`."""
    down = step_size_up if step_size_down is None else step_size_down
    total_size = float(step_size_up + down)
    step_ratio = step_size_up / total_size
    if scale_fn is None:
        if mode == "triangular":
            scale_fn, scale_mode = (lambda x: 1.0), "cycle"
        elif mode == "triangular2":
            scale_fn, scale_mode = (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
        else:
            scale_fn, scale_mode = (lambda x: gamma ** x), "iterations"
    cycle = math.floor(1 + step / total_size)
    x = 1.0 + step / total_size - cycle
    if x <= step_ratio:
        scale_factor = x / step_ratio
    else:
        scale_factor = (x - 1) / (step_ratio - 1)
    base_height = (max_lr - base_lr) * scale_factor
    if scale_mode == "cycle":
        return base_lr + base_height * scale_fn(cycle)
    return base_lr + base_height * scale_fn(step)


def _torch_anneal(start, end, pct, strategy):
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def torch_one_cycle(step, max_lr, total_steps, pct_start=0.3,
                    anneal_strategy="cos", div_factor=25.0,
                    final_div_factor=1e4, three_phase=False,
                    base_momentum=0.85, max_momentum=0.95):
    """PyTorch's OneCycleLR.get_lr() (lr, momentum) at `last_epoch = step`.

    Past `total_steps - 1` it returns the value at `total_steps - 1`: PyTorch
    raises there, keras_lr documents that it holds the final value.
    """
    step = min(step, total_steps - 1)
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    if three_phase:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr,
             max_momentum, base_momentum),
            (float(2 * pct_start * total_steps) - 2, max_lr, initial_lr,
             base_momentum, max_momentum),
            (total_steps - 1, initial_lr, min_lr, max_momentum, max_momentum),
        ]
    else:
        phases = [
            (float(pct_start * total_steps) - 1, initial_lr, max_lr,
             max_momentum, base_momentum),
            (total_steps - 1, max_lr, min_lr, base_momentum, max_momentum),
        ]
    start_step = 0
    for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / (end_step - start_step)
            return (_torch_anneal(lr0, lr1, pct, anneal_strategy),
                    _torch_anneal(m0, m1, pct, anneal_strategy))
        start_step = end_step
    raise AssertionError("unreachable")


def warmup(step, target_fn, warmup_steps, initial, shape, local_step):
    """Warmup then `target_fn(local or global step)`, in float64."""
    offset = warmup_steps if local_step else 0
    if step >= warmup_steps:
        return target_fn(step - offset)
    target = target_fn(warmup_steps - offset)
    p = step / warmup_steps
    if shape == "linear":
        return initial + (target - initial) * p
    if shape == "cosine":
        return initial + (target - initial) * (1 - math.cos(math.pi * p)) / 2
    return initial * (target / initial) ** p


def join(step, pieces, boundaries):
    """optax.join_schedules semantics: piece i sees `step - boundaries[i-1]`."""
    index = sum(1 for b in boundaries if step >= b)
    offset = 0 if index == 0 else boundaries[index - 1]
    return pieces[index](step - offset)


def plateau(values, lr0, factor, patience, min_delta=1e-4, cooldown=0, min_lr=0.0,
            minimize=True, threshold_mode="abs", warmup=0, smoothing=0.0):
    """Keras's `ReduceLROnPlateau.on_epoch_end` (keras/src/callbacks), one
    value per check, with PyTorch's "rel" threshold, a warmup that ignores the
    first checks and fastai-style smoothing. Returns the LR after each check."""
    best = np.inf if minimize else -np.inf
    wait = cooldown_counter = 0
    lr, average, out = lr0, 0.0, []
    for n, value in enumerate(values, start=1):
        if smoothing:
            average = smoothing * average + (1 - smoothing) * value
            value = average / (1 - smoothing ** n)
        if n > warmup:
            if threshold_mode == "rel":
                better = value < best * (1 - min_delta) if minimize else value > best * (1 + min_delta)
            else:
                better = value < best - min_delta if minimize else value > best + min_delta
            if cooldown_counter > 0:
                cooldown_counter -= 1
                wait = 0
            if better:
                best = np.float32(value)
                wait = 0
            elif not cooldown_counter > 0:
                wait += 1
                if wait >= patience:
                    if lr > np.float32(min_lr):
                        lr = max(lr * factor, min_lr)
                        cooldown_counter = cooldown
                        wait = 0
        out.append(lr)
    return np.array(out)


def bold_driver(values, lr0, increase, decrease, slow, patience=1, min_lr=0.0,
                max_lr=np.inf, warmup=0):
    """The bold-driver rule as documented, one value per check."""
    lr, previous, slow_checks, out = lr0, np.nan, 0, []
    for n, value in enumerate(values, start=1):
        value = float(np.float32(value))
        if n > warmup and np.isfinite(previous):
            change = (previous - value) / max(abs(previous), 1e-12)
            if change < 0:
                slow_checks = 0
                lr = min(max(lr * decrease, min_lr), max_lr)
            elif change < slow:
                slow_checks += 1
                if slow_checks >= patience:
                    slow_checks = 0
                    lr = min(max(lr * increase, min_lr), max_lr)
            else:
                slow_checks = 0
        previous = value
        out.append(lr)
    return np.array(out)


def optimizer_steps(name, w0, grads, lrs, *, momentum=0.0, nesterov=False,
                    beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0,
                    rho=0.9):
    """Keras's update rules written out in float64 NumPy.

    Returns the variable after each step. `lrs`, `momentum` and `beta_1` may
    be per-step sequences (a scheduled momentum is PyTorch's convention:
    the value of the step, bias correction included).
    """
    def at(value, t):
        return value[t] if np.ndim(value) else value

    w = np.array(w0, dtype="float64")
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    out = []
    for t, (g, lr) in enumerate(zip(grads, lrs)):
        g = np.asarray(g, dtype="float64")
        if name == "sgd":
            mu = at(momentum, t)
            if np.ndim(momentum) or momentum:
                m = mu * m - lr * g
                w = w + (mu * m - lr * g if nesterov else m)
            else:
                w = w - lr * g
        elif name in ("adam", "adamw"):
            b1 = at(beta_1, t)
            w = w - w * weight_decay * lr
            m = m + (g - m) * (1 - b1)
            v = v + (g * g - v) * (1 - beta_2)
            alpha = lr * math.sqrt(1 - beta_2 ** (t + 1)) / (1 - b1 ** (t + 1))
            w = w - m * alpha / (np.sqrt(v) + epsilon)
        elif name == "rmsprop":
            v = rho * v + (1 - rho) * g * g
            w = w - lr * g / np.sqrt(v + epsilon)
        else:
            raise ValueError(name)
        out.append(w.copy())
    return out


def hypergradient_steps(name, w0, grads, lr0, beta, *, momentum=0.9, beta_1=0.9,
                        beta_2=0.999, epsilon=1e-7, min_lr=0.0, max_lr=None,
                        rule="additive", warmup_steps=0, warmup_start=0.01):
    """Baydin et al.'s hypergradient descent, float64, with Keras's update rules.

    `lr_t = clip(lr_(t-1) + beta * g_t . u_(t-1))`, then the optimizer's step at
    `lr_t`; `u` is that step per unit of learning rate: `g` (SGD-HD), the
    Nesterov step `-(mu * m_t - lr_t * g_t) / lr_t` with Keras's momentum
    `m_t = mu * m_(t-1) - lr_t * g_t` (SGDN-HD), `m_hat / (sqrt(v_hat) + eps)`
    with Keras's epsilon placement (Adam-HD). `rule="multiplicative"`:
    `lr_t = lr_(t-1) * (1 + beta * cos(g_t, u_(t-1)))`. With `warmup_steps`:
    the first step at `warmup_start * lr0`, then up to step `warmup_steps`
    `min(lr_(t-1) * (1 / warmup_start) ** (1 / warmup_steps), lr0)` when
    `g_t . u_(t-1) >= 0`, else the rule. Returns (weights, lrs).
    """
    w = np.array(w0, dtype="float64")
    u = np.zeros_like(w)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    lr = lr0
    weights, lrs = [], []
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, dtype="float64")
        dot = float(np.sum(g * u))
        if rule == "additive":
            rule_lr = lr + beta * dot
        else:
            norms = math.sqrt(float(np.sum(g * g)) * float(np.sum(u * u)))
            rule_lr = lr * (1 + beta * dot / max(norms, 1e-30))
        if warmup_steps and t == 1:
            lr = lr0 * warmup_start
        elif warmup_steps and t - 1 <= warmup_steps and dot >= 0:
            lr = min(lr * (1 / warmup_start) ** (1 / warmup_steps), lr0)
        else:
            lr = rule_lr
        lr = max(lr, min_lr)
        if max_lr is not None:
            lr = min(lr, max_lr)
        if name == "sgd":
            u = g
        elif name == "sgd_nesterov":
            m = momentum * m - lr * g
            u = -(momentum * m - lr * g) / lr
        elif name == "adam":
            m = m + (g - m) * (1 - beta_1)
            v = v + (g * g - v) * (1 - beta_2)
            u = m * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t) / (np.sqrt(v) + epsilon)
        else:
            raise ValueError(name)
        w = w - lr * u
        weights.append(w.copy())
        lrs.append(lr)
    return weights, lrs
