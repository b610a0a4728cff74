//! SGD, Adam and AdamW written out on tensors, following PyTorch's update rules, so
//! that their state (momentum and moment buffers, step count) can be saved in a
//! checkpoint and restored exactly; libtorch's built-in optimisers hide it.

use std::collections::HashMap;

use tch::{Tensor, nn::VarStore};

use crate::config::{OptimizerConfig, OptimizerKind};

/// An optimiser over the trainable variables of one var store.
pub struct Optimizer {
    config: OptimizerConfig,
    /// Trainable variables, sorted by name (a stable order for checkpoints).
    params: Vec<(String, Tensor)>,
    /// Per parameter: SGD momentum buffer, or Adam first and second moments.
    state: Vec<Vec<Tensor>>,
    /// Updates applied so far.
    steps: u64,
}

impl Optimizer {
    /// Creates the optimiser with zeroed state.
    pub fn new(vs: &VarStore, config: &OptimizerConfig) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = match config.kind {
            OptimizerKind::Sgd if config.momentum == 0.0 => 0,
            OptimizerKind::Sgd => 1,
            OptimizerKind::Adam | OptimizerKind::Adamw => 2,
        };
        let state = params
            .iter()
            .map(|(_, p)| (0..slots).map(|_| p.zeros_like()).collect())
            .collect();
        Optimizer {
            config: config.clone(),
            params,
            state,
            steps: 0,
        }
    }

    /// Clears the gradients of every parameter.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Applies one update with learning rate `lr` using the current gradients.
    pub fn step(&mut self, lr: f64) {
        let _guard = tch::no_grad_guard();
        self.steps += 1;
        let c = &self.config;
        let t = self.steps as i32;
        let wd = c.weight_decay;
        // 0-dim factors, made once per step: in-place updates allocate no
        // parameter-sized temporaries.
        let (neg_lr, wd_t, neg_lr_momentum) = (Tensor::from(-lr), Tensor::from(wd), Tensor::from(-lr * c.momentum));
        // p ← p·(1 − lr·wd): decay folded into plain SGD, or AdamW's decoupled decay.
        let decay = |p: &mut Tensor| {
            if wd != 0.0 {
                let _ = p.g_mul_scalar_(1.0 - lr * wd);
            }
        };
        for ((_, p), state) in self.params.iter_mut().zip(&mut self.state) {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            match c.kind {
                OptimizerKind::Sgd => {
                    // PyTorch: d = g + wd·p; buf = m·buf + d; d = buf (Nesterov: d + m·buf);
                    // p -= lr·d.
                    // buf starts at zero, so the first step leaves buf = d as PyTorch does.
                    let mut buf = state.first_mut();
                    if let Some(buf) = buf.as_deref_mut() {
                        let _ = buf.g_mul_scalar_(c.momentum);
                        let _ = buf.g_add_(&g);
                        if wd != 0.0 {
                            let _ = buf.addcmul_(p, &wd_t);
                        }
                    }
                    match buf {
                        Some(buf) if !c.nesterov => {
                            let _ = p.addcmul_(buf, &neg_lr);
                        }
                        buf => {
                            decay(p);
                            let _ = p.addcmul_(&g, &neg_lr);
                            if let Some(buf) = buf {
                                let _ = p.addcmul_(buf, &neg_lr_momentum);
                            }
                        }
                    }
                }
                OptimizerKind::Adam | OptimizerKind::Adamw => {
                    let (b1, b2) = c.betas;
                    let g = if c.kind == OptimizerKind::Adam && c.weight_decay != 0.0 {
                        g + &*p * c.weight_decay
                    } else {
                        if c.kind == OptimizerKind::Adamw {
                            decay(p);
                        }
                        g
                    };
                    let [m, v] = &mut state[..] else { continue };
                    let _ = m.g_mul_scalar_(b1);
                    let _ = m.g_add_(&(&g * (1.0 - b1)));
                    let _ = v.g_mul_scalar_(b2);
                    let _ = v.addcmul_(&g, &(&g * (1.0 - b2)));
                    let bias1 = 1.0 - b1.powi(t);
                    let bias2 = 1.0 - b2.powi(t);
                    let denom = v.sqrt() / bias2.sqrt() + c.eps;
                    let _ = p.g_add_(&(&*m / denom * (-lr / bias1)));
                }
            }
        }
    }

    /// The state as named tensors (`<param>#<slot>`), for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .zip(&self.state)
            .flat_map(|((name, _), slots)| {
                slots
                    .iter()
                    .enumerate()
                    .map(move |(i, t)| (format!("{name}#{i}"), t.shallow_clone()))
            })
            .collect()
    }

    /// Restores state saved by [`Optimizer::state_tensors`]; names the first missing buffer.
    pub fn load_state(&mut self, saved: &HashMap<String, Tensor>, steps: u64) -> Result<(), String> {
        let _guard = tch::no_grad_guard();
        for ((name, _), slots) in self.params.iter().zip(&mut self.state) {
            for (i, t) in slots.iter_mut().enumerate() {
                let key = format!("{name}#{i}");
                let src = saved
                    .get(&key)
                    .ok_or_else(|| format!("optimiser state `{key}` missing"))?;
                if src.size() != t.size() {
                    return Err(format!(
                        "optimiser state `{key}` has shape {:?}, expected {:?}",
                        src.size(),
                        t.size()
                    ));
                }
                t.copy_(src);
            }
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, nn};

    use super::*;
    use crate::config::OptimizerKind;

    fn one_param(kind: OptimizerKind, momentum: f64, nesterov: bool, wd: f64) -> (VarStore, Optimizer, Tensor) {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[1], nn::Init::Const(1.0));
        let cfg = OptimizerConfig {
            kind,
            lr: 0.1,
            momentum,
            nesterov,
            weight_decay: wd,
            betas: (0.9, 0.999),
            eps: 1e-8,
        };
        let opt = Optimizer::new(&vs, &cfg);
        (vs, opt, w)
    }

    /// Loss 2·w, so the gradient is always 2.
    fn step(opt: &mut Optimizer, w: &Tensor) -> f64 {
        opt.zero_grad();
        (w * 2.0).sum(Kind::Float).backward();
        opt.step(0.1);
        w.double_value(&[0])
    }

    #[test]
    fn sgd_with_momentum_matches_hand_computation() {
        let (_vs, mut opt, w) = one_param(OptimizerKind::Sgd, 0.9, false, 0.0);
        // buf = 2 → w = 1 - 0.2 = 0.8; buf = 0.9·2 + 2 = 3.8 → w = 0.8 - 0.38 = 0.42.
        assert!((step(&mut opt, &w) - 0.8).abs() < 1e-6);
        assert!((step(&mut opt, &w) - 0.42).abs() < 1e-6);
    }

    #[test]
    fn nesterov_and_weight_decay_match_hand_computation() {
        let (_vs, mut opt, w) = one_param(OptimizerKind::Sgd, 0.9, true, 0.5);
        // d = 2 + 0.5·1 = 2.5; buf = 2.5; d = 2.5 + 0.9·2.5 = 4.75; w = 1 - 0.475 = 0.525.
        assert!((step(&mut opt, &w) - 0.525).abs() < 1e-6);
    }

    #[test]
    fn plain_sgd_with_weight_decay_matches_hand_computation() {
        let (_vs, mut opt, w) = one_param(OptimizerKind::Sgd, 0.0, false, 0.5);
        // w = 1 - 0.1·(2 + 0.5·1) = 0.75; then 0.75 - 0.1·(2 + 0.375) = 0.5125.
        assert!((step(&mut opt, &w) - 0.75).abs() < 1e-6);
        assert!((step(&mut opt, &w) - 0.5125).abs() < 1e-6);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        let (_vs, mut opt, w) = one_param(OptimizerKind::Adam, 0.0, false, 0.0);
        // Bias-corrected m / sqrt(v) = 1 on the first step.
        assert!((step(&mut opt, &w) - 0.9).abs() < 1e-6);
        let (_vs, mut opt, w) = one_param(OptimizerKind::Adamw, 0.0, false, 0.5);
        // Decoupled decay first: w = 1·(1 - 0.05) = 0.95, then - 0.1.
        assert!((step(&mut opt, &w) - 0.85).abs() < 1e-6);
    }

    #[test]
    fn state_round_trips() {
        let (_vs, mut opt, w) = one_param(OptimizerKind::Adam, 0.0, false, 0.0);
        step(&mut opt, &w);
        let saved: HashMap<String, Tensor> = opt.state_tensors().into_iter().map(|(n, t)| (n, t.copy())).collect();
        assert_eq!(saved.len(), 2);
        let (_vs2, mut other, _w2) = one_param(OptimizerKind::Adam, 0.0, false, 0.0);
        other.load_state(&saved, opt.steps()).unwrap();
        assert_eq!(other.steps(), 1);
        assert_eq!(
            other.state_tensors()[0].1.double_value(&[0]),
            saved["w#0"].double_value(&[0])
        );
    }
}
