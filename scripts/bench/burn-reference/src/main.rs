//! SAC update in burn 0.22.1 (flex + autodiff), same structure as scripts/bench/torch_reference.py.
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::{activation, Distribution};
use std::time::Instant;

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Mlp {
    fn new(i: usize, o: usize, d: &Device) -> Self {
        Mlp { l1: LinearConfig::new(i, 256).init(d), l2: LinearConfig::new(256, 256).init(d), l3: LinearConfig::new(256, o).init(d) }
    }
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = activation::relu(self.l1.forward(x));
        let x = activation::relu(self.l2.forward(x));
        self.l3.forward(x)
    }
}

#[derive(Module, Debug)]
struct LogAlpha {
    v: Param<Tensor<1>>,
}

struct Collect(Vec<Tensor<1>>);
impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

struct Polyak {
    online: Vec<Tensor<1>>,
    i: usize,
    tau: f64,
}
impl ModuleMapper for Polyak {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let o = self.online[self.i].clone().detach();
        self.i += 1;
        let tau = self.tau;
        param.map(|t| {
            let shape = t.shape();
            t.detach().mul_scalar(1.0 - tau) + o.reshape(shape).mul_scalar(tau)
        })
    }
}

fn polyak(target: Mlp, online: &Mlp, tau: f64) -> Mlp {
    let mut c = Collect(Vec::new());
    online.visit(&mut c);
    target.map(&mut Polyak { online: c.0, i: 0, tau })
}

struct Sac {
    actor: Mlp,
    q1: Mlp,
    q2: Mlp,
    q1_t: Mlp,
    q2_t: Mlp,
    log_alpha: LogAlpha,
    opt_a: burn::optim::ModuleOptimizer,
    opt_q1: burn::optim::ModuleOptimizer,
    opt_q2: burn::optim::ModuleOptimizer,
    opt_al: burn::optim::ModuleOptimizer,
    act: usize,
    device: Device,
}

impl Sac {
    fn sample(&self, actor: &Mlp, s: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let out = actor.forward(s);
        let [b, _] = out.dims();
        let mean = out.clone().slice([0..b, 0..self.act]);
        let log_std = out.slice([0..b, self.act..2 * self.act]).clamp(-20.0, 2.0);
        let eps = Tensor::<2>::random([b, self.act], Distribution::Normal(0.0, 1.0), &self.device);
        let u = mean + log_std.clone().exp() * eps.clone();
        let logp = (eps.clone() * eps).mul_scalar(-0.5) - log_std - 0.918_938_5;
        let corr = (u.clone().neg() - activation::softplus(u.clone().mul_scalar(-2.0), 1.0) + std::f64::consts::LN_2).mul_scalar(2.0);
        ((u.tanh()), (logp - corr).sum_dim(1))
    }

    fn update(&mut self, s: Tensor<2>, a: Tensor<2>, r: Tensor<2>, s2: Tensor<2>, d: Tensor<2>) {
        let (a_pi, logp_pi) = self.sample(&self.actor, s.clone());
        // alpha
        let la = self.log_alpha.v.val();
        let alpha_loss = (la.clone().unsqueeze::<2>() * (logp_pi.clone().detach().add_scalar(-(self.act as f64)))).mean().neg();
        let g = GradientsParams::from_grads(alpha_loss.backward(), &self.log_alpha);
        let alpha = la.detach().exp();
        self.log_alpha = self.opt_al.step(3e-4, self.log_alpha.clone(), g);
        let alpha2: Tensor<2> = alpha.unsqueeze();
        // target
        let (a2, logp2) = self.sample(&self.actor.valid(), s2.clone().detach());
        let x2 = Tensor::cat(vec![s2, a2], 1).detach();
        let q2t = self.q1_t.valid().forward(x2.clone()).min_pair(self.q2_t.valid().forward(x2)) - alpha2.clone() * logp2;
        let y = (r + (d.neg().add_scalar(1.0) * q2t).mul_scalar(0.99)).detach();
        // critics
        let x = Tensor::cat(vec![s.clone(), a], 1);
        let l1 = (self.q1.forward(x.clone()) - y.clone()).powi_scalar(2).mean();
        let g1 = GradientsParams::from_grads(l1.backward(), &self.q1);
        self.q1 = self.opt_q1.step(3e-4, self.q1.clone(), g1);
        let l2 = (self.q2.forward(x) - y).powi_scalar(2).mean();
        let g2 = GradientsParams::from_grads(l2.backward(), &self.q2);
        self.q2 = self.opt_q2.step(3e-4, self.q2.clone(), g2);
        // actor: gradients flow through the critics to the action, but no critic weight gradients
        let x_pi = Tensor::cat(vec![s, a_pi], 1);
        let q_pi = self.q1.clone().no_grad().forward(x_pi.clone()).min_pair(self.q2.clone().no_grad().forward(x_pi));
        let actor_loss = (alpha2 * logp_pi - q_pi).mean();
        let ga = GradientsParams::from_grads(actor_loss.backward(), &self.actor);
        self.actor = self.opt_a.step(3e-4, self.actor.clone(), ga);
        self.q1_t = polyak(self.q1_t.clone(), &self.q1, 0.005);
        self.q2_t = polyak(self.q2_t.clone(), &self.q2, 0.005);
    }
}

fn main() {
    let device = Device::flex().autodiff();
    let (o, k, b) = (17usize, 6usize, 256usize);
    let q1 = Mlp::new(o + k, 1, &device);
    let q2 = Mlp::new(o + k, 1, &device);
    let mut sac = Sac {
        actor: Mlp::new(o, 2 * k, &device),
        q1_t: q1.clone(),
        q2_t: q2.clone(),
        q1,
        q2,
        log_alpha: LogAlpha { v: Param::from_tensor(Tensor::zeros([1], &device)) },
        opt_a: AdamConfig::new().init(),
        opt_q1: AdamConfig::new().init(),
        opt_q2: AdamConfig::new().init(),
        opt_al: AdamConfig::new().init(),
        act: k,
        device: device.clone(),
    };
    let n = |shape: [usize; 2]| Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let (s, a, r, s2) = (n([b, o]), n([b, k]).tanh(), n([b, 1]), n([b, o]));
    let d = Tensor::<2>::zeros([b, 1], &device);
    for _ in 0..20 {
        sac.update(s.clone(), a.clone(), r.clone(), s2.clone(), d.clone());
    }
    let w0: Vec<f32> = sac.q1.l2.weight.val().into_data().to_vec().unwrap();
    let a0: Vec<f32> = sac.actor.l2.weight.val().into_data().to_vec().unwrap();
    sac.update(s.clone(), a.clone(), r.clone(), s2.clone(), d.clone());
    let w1: Vec<f32> = sac.q1.l2.weight.val().into_data().to_vec().unwrap();
    let a1: Vec<f32> = sac.actor.l2.weight.val().into_data().to_vec().unwrap();
    let diff = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f32>();
    eprintln!("critic moved {:e}, actor moved {:e}, q1 requires grad {}", diff(&w0, &w1), diff(&a0, &a1), sac.q1.l2.weight.val().is_require_grad());
    let mut rates = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..100 {
            sac.update(s.clone(), a.clone(), r.clone(), s2.clone(), d.clone());
        }
        // Make sure all queued work has run.
        let _ = sac.q1_t.l3.bias.as_ref().map(|b| b.val().into_data());
        rates.push(100.0 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!("burn 0.22.1 flex+autodiff SAC, RAYON_NUM_THREADS={}: {:.1} updates/s (median of 7)", std::env::var("RAYON_NUM_THREADS").unwrap_or("default".into()), rates[3]);
}
