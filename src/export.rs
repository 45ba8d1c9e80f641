//! A trained policy outside polyak: a checkpoint's deterministic policy as plain layers
//! ([`Policy`]) and as an ONNX model (`polyak export`, Python's `export_onnx`), which an ONNX
//! runtime (onnxruntime, TensorRT, OpenVINO, …) runs on a robot's computer with no polyak,
//! Python or PyTorch there. The tests run it in onnxruntime (`python/tests/test_export.py`).
//!
//! The model is the action `predict(obs, deterministic=True)` and `polyak eval` take, in the
//! env's bounds: `low + (tanh(f(obs)) + 1)/2 · (high − low)`, with `f` the actor's layers and
//! ReLU between them (SAC: the mean half of its last layer). Its one input is `observation`
//! (float32, `batch × obs_dim`) and its one output `action` (float32, `batch × act_dim`). It is
//! written as ONNX's standard operators of opset 13 (`Gemm`, `Relu`, `Tanh`, `Add`, `Mul`),
//! which runtimes since 2020 read; other runtimes sum each product in their own order, so their
//! actions agree with polyak's to float32 rounding, not bit for bit.

use crate::config::TrainConfig;
use crate::env::BoxSpace;
use crate::error::{Error, Result};
use crate::nn::{relu, Mlp};
use crate::train::{load_agent, resolve_checkpoint, state};
use std::path::{Path, PathBuf};

/// One fully-connected layer: `y = x · weight + bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub inputs: usize,
    pub outputs: usize,
    /// `inputs × outputs`, row-major.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// An actor's layers as its deterministic policy: all of them, but only the first `act_dim`
/// outputs of the last (a SAC actor's means; a TD3 actor has no others).
pub(crate) fn policy_layers(actor: &Mlp, act_dim: usize) -> Vec<Layer> {
    let last = actor.n_layers() - 1;
    (0..=last)
        .map(|l| {
            let (w, b) = actor.layer(l);
            let (inputs, width) = (actor.sizes()[l], actor.sizes()[l + 1]);
            let outputs = if l == last { act_dim } else { width };
            let weight = w.chunks_exact(width).flat_map(|row| &row[..outputs]).copied().collect();
            Layer { inputs, outputs, weight, bias: b[..outputs].to_vec() }
        })
        .collect()
}

/// A deterministic policy in the env's bounds (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// ReLU after each but the last; tanh after the last.
    pub layers: Vec<Layer>,
    /// The env's action bounds.
    pub action: BoxSpace,
}

impl Policy {
    pub fn obs_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    pub fn act_dim(&self) -> usize {
        self.action.dim()
    }

    /// The action for one observation, computed as polyak's agents compute it (each output one
    /// fused multiply-add chain from its bias, in input order), so it has their bits (tested
    /// against each agent's `act`). Panics unless `obs` has `obs_dim` values.
    pub fn act(&self, obs: &[f32]) -> Vec<f32> {
        assert_eq!(obs.len(), self.obs_dim(), "Policy::act: observation size");
        let mut x = obs.to_vec();
        for (l, layer) in self.layers.iter().enumerate() {
            let hidden = l + 1 < self.layers.len();
            x = (0..layer.outputs)
                .map(|j| {
                    let chain = x
                        .iter()
                        .enumerate()
                        .fold(layer.bias[j], |acc, (p, &xp)| xp.mul_add(layer.weight[p * layer.outputs + j], acc));
                    if hidden {
                        relu(chain)
                    } else {
                        chain
                    }
                })
                .collect();
        }
        let normalised: Vec<f32> = x.iter().map(|&v| crate::nn::elementary::tanh(v)).collect();
        let mut action = vec![0.0; normalised.len()];
        crate::train::scale_action(&normalised, &self.action, &mut action);
        action
    }

    /// The policy as an ONNX model (the module docs say what it computes), with `metadata`
    /// (what it was exported from) in the model's `metadata_props`.
    pub fn to_onnx(&self, metadata: &[(&str, String)]) -> Vec<u8> {
        let mut graph = Graph::default();
        let mut x = INPUT.to_string();
        for (l, layer) in self.layers.iter().enumerate() {
            let (w, b) = (format!("layer{l}.weight"), format!("layer{l}.bias"));
            graph.initializer(&w, &[layer.inputs, layer.outputs], &layer.weight);
            graph.initializer(&b, &[layer.outputs], &layer.bias);
            let y = format!("layer{l}");
            graph.node("Gemm", &[&x, &w, &b], &y);
            x = y;
            if l + 1 < self.layers.len() {
                graph.node("Relu", &[&x], &format!("layer{l}.relu"));
                x = format!("layer{l}.relu");
            }
        }
        // low + (a + 1)·((high − low)/2): the rounding of scale_action's l + 0.5·(a + 1)·(h − l),
        // as halving is exact
        let half_range: Vec<f32> = self.action.high.iter().zip(&self.action.low).map(|(h, l)| 0.5 * (h - l)).collect();
        let k = self.act_dim();
        graph.initializer("one", &[1], &[1.0]);
        graph.initializer("half_range", &[k], &half_range);
        graph.initializer("low", &[k], &self.action.low);
        graph.node("Tanh", &[&x], "normalised_action");
        graph.node("Add", &["normalised_action", "one"], "shifted");
        graph.node("Mul", &["shifted", "half_range"], "scaled");
        graph.node("Add", &["low", "scaled"], OUTPUT);
        let graph = graph
            .message
            .text(2, "polyak_policy")
            .message(11, value_info(INPUT, self.obs_dim()))
            .message(12, value_info(OUTPUT, k));
        let opset = Message::default().int(2, OPSET);
        let model = Message::default()
            .int(1, IR_VERSION)
            .text(2, "polyak")
            .text(3, env!("CARGO_PKG_VERSION"))
            .text(6, "The deterministic policy of a polyak run: observation -> action, in the env's bounds.")
            .message(7, graph)
            .message(8, opset);
        let model = metadata
            .iter()
            .fold(model, |m, (key, value)| m.message(14, Message::default().text(1, key).text(2, value)));
        model.0
    }
}

const INPUT: &str = "observation";
const OUTPUT: &str = "action";
/// ONNX's IR version 7 goes with opset 13 (both from 2020).
const IR_VERSION: u64 = 7;
const OPSET: u64 = 13;
/// `TensorProto.DataType.FLOAT`.
const FLOAT: u64 = 1;

/// Protocol Buffers' wire format, as much as an ONNX file needs: varint and length-delimited
/// fields, written in field order by the builder calls.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    /// A varint field (wire type 0).
    fn int(mut self, field: u64, v: u64) -> Self {
        self.varint(field << 3);
        self.varint(v);
        self
    }

    /// A length-delimited field (wire type 2).
    fn bytes(mut self, field: u64, bytes: &[u8]) -> Self {
        self.varint(field << 3 | 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    fn text(self, field: u64, text: &str) -> Self {
        self.bytes(field, text.as_bytes())
    }

    fn message(self, field: u64, inner: Message) -> Self {
        self.bytes(field, &inner.0)
    }
}

/// A `GraphProto` under construction: nodes (in the order they run) and initializers.
#[derive(Default)]
struct Graph {
    message: Message,
}

impl Graph {
    fn node(&mut self, op: &str, inputs: &[&str], output: &str) {
        let node = inputs.iter().fold(Message::default(), |m, i| m.text(1, i));
        let node = node.text(2, output).text(3, output).text(4, op);
        self.message = std::mem::take(&mut self.message).message(1, node);
    }

    fn initializer(&mut self, name: &str, dims: &[usize], values: &[f32]) {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensor = dims.iter().fold(Message::default(), |m, &d| m.int(1, d as u64));
        let tensor = tensor.int(2, FLOAT).text(8, name).bytes(9, &raw);
        self.message = std::mem::take(&mut self.message).message(5, tensor);
    }
}

/// A float32 `batch × width` value, its batch size left free.
fn value_info(name: &str, width: usize) -> Message {
    let shape = Message::default()
        .message(1, Message::default().text(2, "batch"))
        .message(1, Message::default().int(1, width as u64));
    let tensor = Message::default().int(1, FLOAT).message(2, shape);
    Message::default().text(1, name).message(2, Message::default().message(1, tensor))
}

/// What [`export_run`] wrote.
#[derive(Clone, Debug)]
pub struct Exported {
    pub path: PathBuf,
    /// The checkpoint it came from.
    pub checkpoint: PathBuf,
    pub policy: Policy,
}

/// The observation size and action bounds of the env a run trains on: a built-in env's own, or
/// those the Python package recorded for a Python env.
fn run_spaces(run_dir: &Path, env: &str) -> Result<(usize, BoxSpace)> {
    if let Some(name) = env.strip_prefix(crate::env::PYTHON_ENV_PREFIX) {
        return crate::rundir::read_env_spaces(&crate::rundir::RunDir::new(run_dir)).map_err(|e| {
            Error::run_dir(run_dir, format!("trained on a Python env ({name}) whose spaces cannot be read: {e}"))
        });
    }
    let env = crate::env::make(env)?;
    Ok((env.observation_space().dim(), env.action_space().clone()))
}

/// Writes the deterministic policy of a run's checkpoint (`None`: the one `polyak eval` takes)
/// as a new ONNX file, by default `<run>/exports/<checkpoint>.onnx`. An existing file is never
/// replaced.
pub fn export_run(run_dir: &Path, checkpoint: Option<&Path>, out: Option<&Path>) -> Result<Exported> {
    let cfg = state::run_config(run_dir)?;
    let checkpoint = checkpoint.map(|c| resolve_checkpoint(run_dir, c)).transpose()?;
    let (obs_dim, action) = run_spaces(run_dir, &cfg.env)?;
    let loaded = load_agent(run_dir, checkpoint.as_deref(), obs_dim, action.dim())?;
    let checkpoint = loaded.path;
    let stem = checkpoint.file_stem().map_or_else(|| "policy".into(), |s| s.to_string_lossy().into_owned());
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => crate::rundir::RunDir::new(run_dir).exports().join(format!("{stem}.onnx")),
    };
    let policy = Policy { layers: loaded.agent.policy_layers(), action };
    let mut metadata = metadata(&cfg, loaded.step);
    metadata.push(("checkpoint", stem));
    write_onnx(&policy, &metadata, &path)?;
    Ok(Exported { path, checkpoint, policy })
}

/// What an exported model says it came from: the run's algorithm, env and seed, and the env
/// step of its agent (where known).
pub fn metadata(cfg: &TrainConfig, step: Option<u64>) -> Vec<(&'static str, String)> {
    let mut m = vec![("algo", cfg.algo.name().to_string()), ("env", cfg.env.clone()), ("seed", cfg.seed.to_string())];
    m.extend(step.map(|s| ("step", s.to_string())));
    m
}

/// Writes [`Policy::to_onnx`] as the new file `path` (a `.onnx` name; never over an existing
/// file), crash-safe.
pub fn write_onnx(policy: &Policy, metadata: &[(&str, String)], path: &Path) -> Result<()> {
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return Err(Error::flag("--out", format!("{}: name an .onnx file", path.display())));
    }
    crate::fsutil::write_new(path, &policy.to_onnx(metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::ActMode;
    use crate::config::Algo;

    /// Protocol Buffers' own examples ("Encoding": a message with field 1 = 150, and one with
    /// field 2 = "testing").
    #[test]
    fn fields_are_encoded_as_the_protobuf_docs_show() {
        assert_eq!(Message::default().int(1, 150).0, [0x08, 0x96, 0x01]);
        assert_eq!(Message::default().text(2, "testing").0, b"\x12\x07testing");
        assert_eq!(Message::default().int(1, 300).0, [0x08, 0xac, 0x02]);
        let nested = Message::default().message(3, Message::default().int(1, 150));
        assert_eq!(nested.0, [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }

    /// The plain layers act as the agent does, bit for bit, for every algorithm (SAC's means
    /// are the first half of its last layer).
    #[test]
    fn the_policy_acts_as_the_agent_does_bit_for_bit() {
        let common = crate::algo::CommonConfig { hidden: vec![24, 16], threads: 1, ..Default::default() };
        let action = BoxSpace::new(vec![-2.0, 0.0, -0.5], vec![2.0, 3.0, 1.5]);
        let (obs_dim, act_dim) = (5, action.dim());
        for algo in [Algo::Sac, Algo::Td3, Algo::Ddpg] {
            let mut agent = crate::bench::build(algo, obs_dim, act_dim, &common);
            let mut rng = crate::rng::Rng::new(3);
            for n in [32, 32, 32] {
                agent.update(&crate::bench::random_batch(n, obs_dim, act_dim, &mut rng));
            }
            let policy = Policy { layers: agent.policy_layers(), action: action.clone() };
            assert_eq!((policy.obs_dim(), policy.act_dim()), (obs_dim, act_dim));
            for _ in 0..20 {
                let obs: Vec<f32> = (0..obs_dim).map(|_| 3.0 * rng.normal() as f32).collect();
                let (mut a, mut want) = (vec![0.0; act_dim], vec![0.0; act_dim]);
                agent.act(&obs, ActMode::Deterministic, &mut rng, &mut a);
                crate::train::scale_action(&a, &action, &mut want);
                let got = policy.act(&obs);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{algo:?} at {obs:?}");
            }
        }
    }
}
