//! Pictures and videos: the classic envs' drawings against hand-checked pixels, GIF and MP4
//! files decoded back, `video_every` during training, `polyak render`'s errors, and (where
//! polyak links MuJoCo) MuJoCo's own renderer against frames recorded from Gymnasium
//! (`scripts/fixtures/render.sh`).
//!
//! MuJoCo frames need a headless OpenGL (Mesa's EGL or OSMesa) and MP4 needs `ffmpeg`; without
//! them those tests say so and pass, unless `POLYAK_REQUIRE_RENDER=1` (CI sets it, after
//! `scripts/setup/render.sh`), where their absence fails.

mod common;

use polyak::config::TrainConfig;
use polyak::env::Env;
use polyak::env::{MountainCarContinuous, Pendulum};
use polyak::render::{Frame, Video, View};
use polyak::train::{train, TrainOptions};
use std::path::Path;
use std::process::Command;

const ROD: [u8; 3] = [204, 77, 77];
const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];

fn required() -> bool {
    std::env::var("POLYAK_REQUIRE_RENDER").is_ok_and(|v| v == "1")
}

/// Whether a dependency is there; when it is not, skips loudly, or fails under
/// `POLYAK_REQUIRE_RENDER=1`.
fn present(what: &str, why: Option<String>) -> bool {
    match why {
        None => true,
        Some(why) if required() => panic!("{what} is required (POLYAK_REQUIRE_RENDER=1) but unavailable: {why}"),
        Some(why) => {
            eprintln!("SKIPPED: {what} unavailable ({why}); run scripts/setup/render.sh");
            false
        }
    }
}

fn ffmpeg_present() -> bool {
    let ok = Command::new("ffprobe").arg("-version").output().is_ok_and(|o| o.status.success());
    present("ffmpeg", (!ok).then(|| "no ffmpeg/ffprobe on PATH".to_string()))
}

#[test]
fn pendulum_is_drawn_as_gymnasium_draws_it() {
    let mut env = Pendulum::new();
    // Upright (θ = 0): the rod goes up from the centre (250, 250) to 1/4.4 of the height above.
    env.reset_to(0.0, 0.0);
    let f = env.render(&View::default()).unwrap();
    assert_eq!((f.width, f.height), (500, 500));
    assert_eq!(f.pixel(250, 250), BLACK, "axle at the centre");
    assert_eq!(f.pixel(250, 200), ROD, "rod above the axle");
    assert_eq!(f.pixel(250, 140), ROD, "round end, 113.6 px up");
    assert_eq!(f.pixel(250, 300), WHITE, "nothing below");
    assert_eq!(f.pixel(262, 200), WHITE, "the rod is 22.7 px wide");
    assert_eq!(f.pixel(240, 200), ROD);
    assert_eq!(f.pixel(250, 124), WHITE, "nothing beyond the end's radius of 11");
    // θ = π/2 turns it counter-clockwise on screen: it points left.
    env.reset_to(std::f64::consts::FRAC_PI_2, 0.0);
    let f = env.render(&View::default()).unwrap();
    assert_eq!(f.pixel(190, 250), ROD);
    assert_eq!(f.pixel(310, 250), WHITE);
    assert_eq!(f.pixel(250, 190), WHITE);
    // No torque yet, no arrow; after a step with torque, black arc pixels around the axle.
    let black = |f: &Frame| f.rgb.chunks_exact(3).filter(|p| *p == BLACK).count();
    let before = black(&f);
    env.step(&[2.0]);
    let f = env.render(&View::default()).unwrap();
    assert!(black(&f) > before + 300, "an arrow of {} black pixels", black(&f) - before);
    // Any size is a resampling of Gymnasium's 500 × 500.
    let small = env.render(&View { width: Some(100), height: Some(50), ..View::default() }).unwrap();
    assert_eq!((small.width, small.height, small.rgb.len()), (100, 50, 100 * 50 * 3));
}

#[test]
fn mountain_car_is_drawn_as_gymnasium_draws_it() {
    let mut env = MountainCarContinuous::new();
    env.reset_to(-0.5, 0.0);
    let f = env.render(&View::default()).unwrap();
    assert_eq!((f.width, f.height), (600, 400));
    // Gymnasium's arithmetic: scale = 600 / (0.6 − (−1.2)), and 1.65 × scale rounds to 550.
    let scale = 600.0 / (0.6 - -1.2);
    let height = |x: f64| (3.0 * x).sin() * 0.45 + 0.55;
    // The car body's centre: 10 px of clearance plus half its 20 px height above the hill,
    // tilted by cos(3·(−0.5)) ≈ 0.07 rad; y is counted from the bottom before the flip.
    let (cx, cy) = ((-0.5 + 1.2) * scale, 10.0 + height(-0.5) * scale + 10.0);
    assert_eq!(f.pixel(cx as usize, 399 - cy as usize), BLACK, "car body");
    assert_eq!(f.pixel(cx as usize, 399 - (cy + 25.0) as usize), WHITE, "above the car");
    // The flag: yellow, right of the pole at x = (0.45 + 1.2)·scale.
    let (fx, fy) = (((0.45 - -1.2) * scale) as usize, (height(0.45) * scale) as usize + 50);
    assert_eq!(fx, 550);
    assert_eq!(f.pixel(fx + 5, 399 - (fy - 5)), [204, 204, 0], "flag");
    assert_eq!(f.pixel(fx, 399 - (fy - 20)), BLACK, "pole");
    // The hill line at its lowest point (x = −π/6), where the curve is flat.
    let x = -std::f64::consts::PI / 6.0;
    let (hx, hy) = (((x + 1.2) * scale).round() as usize, (height(x) * scale).round() as usize);
    assert!((0..3).any(|d| f.pixel(hx, 399 - hy + d - 1) == BLACK), "hill line near ({hx}, {hy})");
}

#[test]
fn a_gif_decodes_to_its_frames_at_the_right_pace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.gif");
    // 125 frames per second (Hopper's real time) is above GIF's 50: every third frame is kept,
    // and the delays (in 1/100 s) add up to the real duration.
    let mut video = Video::create(&path, 125.0, 16, 8).unwrap();
    for i in 0..30u8 {
        video.push(&Frame::filled(16, 8, [i * 8, 255 - i * 8, 100])).unwrap();
    }
    assert_eq!(video.finish().unwrap(), path);
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!((decoder.width(), decoder.height()), (16, 8));
    let (mut frames, mut centis, mut first) = (0, 0u32, None);
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        frames += 1;
        centis += frame.delay as u32;
        first.get_or_insert_with(|| frame.buffer[..4].to_vec());
    }
    assert_eq!(frames, 10);
    assert_eq!(centis, 24, "30 frames at 125 fps last 0.24 s");
    let first = first.unwrap();
    assert!(first[0] < 8 && first[1] > 247 && (first[2] as i32 - 100).abs() < 8, "{first:?}");
    // Never replaces a file, and leaves nothing behind when refused.
    let err = Video::create(&path, 30.0, 16, 8).err().unwrap().to_string();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn an_mp4_decodes_to_its_frames() {
    if !ffmpeg_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    let mut video = Video::create(&path, 20.0, 33, 17).unwrap();
    for i in 0..12u8 {
        video.push(&Frame::filled(33, 17, [i * 20, 0, 0])).unwrap();
    }
    video.finish().unwrap();
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames,width,height,codec_name", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout).trim().to_string();
    // Odd sides are padded to even ones for yuv420p.
    assert_eq!(text, "h264,34,18,12");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left");
}

#[test]
fn video_every_records_videos_and_changes_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["total_steps=1200", "learning_starts=200", "eval_every=600", "hidden=[16]", "eval_episodes=1"];
    let sets = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    let plain = TrainConfig::resolve(Some("td3"), None, &sets(&[])).unwrap();
    let filmed = TrainConfig::resolve(Some("td3"), None, &sets(&["video_every=600"])).unwrap();
    let opts = TrainOptions { quiet: true, ..Default::default() };
    train(&plain, &dir.path().join("a"), &opts).unwrap();
    train(&filmed, &dir.path().join("b"), &opts).unwrap();
    assert_eq!(
        common::metrics_without_clock(&dir.path().join("a")),
        common::metrics_without_clock(&dir.path().join("b"))
    );
    let mut videos: Vec<String> = std::fs::read_dir(dir.path().join("b/videos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    videos.sort();
    assert_eq!(videos, ["step_000000600.gif", "step_000001200.gif"]);
    // One Pendulum episode: 200 steps and the state after reset, at 30 fps.
    let decoder = gif::DecodeOptions::new();
    let mut d =
        decoder.read_info(std::fs::File::open(dir.path().join("b/videos/step_000001200.gif")).unwrap()).unwrap();
    let mut frames = 0;
    while d.read_next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 201);
    assert!(!dir.path().join("a/videos").exists());
}

fn polyak(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_polyak"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn trained_pendulum(dir: &Path) -> String {
    let run = dir.join("run");
    let run_s = run.to_string_lossy().into_owned();
    let o = polyak(
        &[
            "train",
            "-q",
            "--algo",
            "sac",
            "--steps",
            "400",
            "--set",
            "learning_starts=100",
            "--set",
            "hidden=[8]",
            "--out",
            &run_s,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run_s
}

#[test]
fn render_writes_the_episodes_polyak_eval_plays() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_pendulum(dir.path());
    let out = dir.path().join("p.gif").to_string_lossy().into_owned();
    let o = polyak(
        &["render", "--run", &run, "--episodes", "2", "--seed", "5", "--out", &out, "--width", "64", "--height", "64"],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("402 frames"), "{text}");
    // The returns are `polyak eval`'s with the same seed.
    let e = polyak(&["eval", "--run", &run, "--episodes", "2", "--seed", "5"], &[]);
    let eval = String::from_utf8_lossy(&e.stdout).into_owned();
    let returns: Vec<&str> =
        eval.lines().find(|l| l.starts_with("returns:")).unwrap().split_whitespace().skip(1).collect();
    for r in &returns {
        assert!(text.contains(&format!("return {r} over 200 steps")), "{r} not in {text}");
    }
    // Asked again, it refuses to replace the file; a wrong checkpoint name suggests the real ones.
    let again = polyak(&["render", "--run", &run, "--out", &out], &[]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let wrong = polyak(&["render", "--run", &run, "--checkpoint", "finale"], &[]);
    let err = String::from_utf8_lossy(&wrong.stderr).into_owned();
    assert!(err.contains("did you mean `final`"), "{err}");
    // A step number names a periodic checkpoint; the default file lands in the run's videos/.
    let by_step = polyak(&["render", "--run", &run, "--checkpoint", "200", "--max-steps", "5", "--no-caption"], &[]);
    assert!(by_step.status.success(), "{}", String::from_utf8_lossy(&by_step.stderr));
    let text = String::from_utf8_lossy(&by_step.stdout).into_owned();
    assert!(text.contains("over 5 steps (cut by --max-steps)") && text.contains("6 frames"), "{text}");
    assert!(Path::new(&run).join("videos/step_000000200.gif").is_file());
    // `polyak eval` takes the same names.
    let eval_step = polyak(&["eval", "--run", &run, "--checkpoint", "200", "--episodes", "1"], &[]);
    assert!(eval_step.status.success(), "{}", String::from_utf8_lossy(&eval_step.stderr));
    let bad = polyak(&["render", "--run", &run, "--out", "x.avi"], &[]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".gif or an .mp4"));
    // Without ffmpeg, MP4 is a clear error naming the Debian package, and leaves nothing.
    let mp4 = dir.path().join("p.mp4").to_string_lossy().into_owned();
    let no_ffmpeg = polyak(&["render", "--run", &run, "--out", &mp4], &[("PATH", "/nonexistent")]);
    let err = String::from_utf8_lossy(&no_ffmpeg.stderr).into_owned();
    assert!(!no_ffmpeg.status.success() && err.contains("apt-get install ffmpeg"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "only the run and p.gif");
}

#[cfg(mujoco)]
mod mujoco {
    use super::*;
    use polyak::env::mujoco::MujocoEnv;
    use polyak::env::EnvSpec;
    use polyak::render::Camera;

    fn floats(text: &str) -> Vec<f64> {
        text.split_whitespace().map(|v| v.parse().unwrap()).collect()
    }

    fn png(path: &Path) -> Frame {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
        Frame { width: info.width as usize, height: info.height as usize, rgb: buf[..info.buffer_size()].to_vec() }
    }

    /// Pixels that differ, and the largest difference of one channel.
    fn diff(a: &Frame, b: &Frame) -> (usize, u8) {
        assert_eq!((a.width, a.height), (b.width, b.height));
        let pixels = a.rgb.chunks_exact(3).zip(b.rgb.chunks_exact(3)).filter(|(x, y)| x != y).count();
        let max = a.rgb.iter().zip(&b.rgb).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        (pixels, max)
    }

    fn gl_present() -> bool {
        let mut env = MujocoEnv::new(polyak::env::MujocoTask::HalfCheetah).unwrap();
        env.reset(Some(0));
        present(
            "a headless OpenGL",
            env.render(&View { width: Some(8), height: Some(8), ..View::default() }).err().map(|e| e.to_string()),
        )
    }

    /// Replays a recorded case: frames must equal Gymnasium's. On the machine that recorded them
    /// they are identical (measured); llvmpipe compiles its shaders for the CPU it runs on, so
    /// another CPU may round a few shading values differently: at most 0.5% of the pixels may
    /// differ, by at most 4 levels.
    fn replay(case: &str, camera_override: Option<Camera>) {
        let text = std::fs::read_to_string(format!("fixtures/render/{case}.txt")).unwrap();
        let mut env: Option<MujocoEnv> = None;
        let mut view = View::default();
        let mut compared = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (kind, rest) = line.split_once(' ').unwrap();
            match kind {
                "env" => {
                    let spec = EnvSpec::get(rest).unwrap();
                    let e = MujocoEnv::versioned(spec.mujoco_task().unwrap(), spec.mujoco_version().unwrap()).unwrap();
                    env = Some(e);
                }
                "view" => {
                    let v: Vec<&str> = rest.split_whitespace().collect();
                    view = View {
                        width: Some(v[0].parse().unwrap()),
                        height: Some(v[1].parse().unwrap()),
                        camera: camera_override.clone().unwrap_or_else(|| v[2].parse().unwrap()),
                    };
                }
                "reset" => {
                    let (qpos, qvel) = rest.split_once('|').unwrap();
                    let e = env.as_mut().unwrap();
                    e.reset(Some(0));
                    e.reset_to(&floats(qpos), &floats(qvel));
                }
                "step" => {
                    let a: Vec<f32> = floats(rest).iter().map(|&v| v as f32).collect();
                    env.as_mut().unwrap().step(&a);
                }
                "frame" => {
                    let ours = env.as_mut().unwrap().render(&view).unwrap();
                    let theirs = png(&Path::new("fixtures/render").join(rest));
                    let (pixels, max) = diff(&ours, &theirs);
                    let total = theirs.width * theirs.height;
                    if pixels > 0 {
                        eprintln!("{case} {rest}: {pixels} of {total} pixels differ, by at most {max}");
                    }
                    assert!(
                        pixels * 200 <= total && max <= 4,
                        "{case} {rest}: {pixels} of {total} pixels differ, by up to {max}"
                    );
                    compared += 1;
                }
                _ => panic!("{case}: unknown line `{line}`"),
            }
        }
        assert!(compared >= 2, "{case}: {compared} frames");
    }

    #[test]
    fn mujoco_frames_equal_gymnasiums() {
        if !gl_present() {
            return;
        }
        replay("HalfCheetah-v5_track", None);
        // polyak's default camera is the model's `track` where it has one.
        replay("HalfCheetah-v5_track", Some(Camera::Default));
        replay("HalfCheetah-v5_free", None);
        replay("Hopper-v5_free_320x240", None);
    }

    #[test]
    fn a_wrong_camera_is_a_clear_error() {
        if !gl_present() {
            return;
        }
        let mut env = MujocoEnv::new(polyak::env::MujocoTask::Hopper).unwrap();
        env.reset(Some(0));
        let err = env.render(&View { camera: Camera::Name("trak".into()), ..View::default() }).unwrap_err().to_string();
        assert!(err.contains("no camera `trak`") && err.contains("track"), "{err}");
        let err = env.render(&View { camera: Camera::Id(3), ..View::default() }).unwrap_err().to_string();
        assert!(err.contains("camera 3 does not exist"), "{err}");
    }

    #[test]
    fn without_opengl_render_names_the_packages_and_training_still_runs() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run").to_string_lossy().into_owned();
        let no_gl =
            [("POLYAK_LIBEGL", "/nonexistent/libEGL.so.1"), ("POLYAK_LIBOSMESA", "/nonexistent/libOSMesa.so.8")];
        let sets = ["--set", "learning_starts=50", "--set", "hidden=[8]", "--set", "eval_episodes=1"];
        let mut args =
            vec!["train", "-q", "--algo", "td3", "--env", "InvertedPendulum-v5", "--steps", "100", "--out", &run];
        args.extend(sets);
        let o = polyak(&args, &no_gl);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = dir.path().join("v.gif").to_string_lossy().into_owned();
        let r = polyak(&["render", "--run", &run, "--out", &out], &no_gl);
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(!r.status.success());
        assert!(err.contains("libegl1 libegl-mesa0 libgl1-mesa-dri") && err.contains("libosmesa6"), "{err}");
        assert!(!Path::new(&out).exists());
        // video_every refuses before training, not after it.
        let run2 = dir.path().join("run2").to_string_lossy().into_owned();
        let mut args =
            vec!["train", "-q", "--algo", "td3", "--env", "InvertedPendulum-v5", "--steps", "100", "--out", &run2];
        args.extend(sets);
        args.extend(["--set", "video_every=50"]);
        let o = polyak(&args, &no_gl);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success() && err.contains("video_every") && err.contains("libosmesa6"), "{err}");
    }

    #[test]
    fn both_backends_draw_the_same_frame() {
        if !gl_present() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run").to_string_lossy().into_owned();
        let mut args =
            vec!["train", "-q", "--algo", "td3", "--env", "InvertedPendulum-v5", "--steps", "100", "--out", &run];
        args.extend(["--set", "learning_starts=50", "--set", "hidden=[8]", "--set", "eval_episodes=1"]);
        assert!(polyak(&args, &[]).status.success());
        let mut frames = Vec::new();
        for backend in ["egl", "osmesa"] {
            let out = dir.path().join(format!("{backend}.gif")).to_string_lossy().into_owned();
            let o = polyak(
                &[
                    "render",
                    "--run",
                    &run,
                    "--out",
                    &out,
                    "--max-steps",
                    "3",
                    "--width",
                    "96",
                    "--height",
                    "64",
                    "--no-caption",
                ],
                &[("MUJOCO_GL", backend)],
            );
            if !o.status.success() {
                // Skips (or, where required, fails) naming why.
                present(&format!("the {backend} backend"), Some(String::from_utf8_lossy(&o.stderr).into_owned()));
                return;
            }
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(text.contains("4 frames"), "{text}");
            let mut d = gif::DecodeOptions::new();
            d.set_color_output(gif::ColorOutput::RGBA);
            let mut d = d.read_info(std::fs::File::open(&out).unwrap()).unwrap();
            let first = d.read_next_frame().unwrap().unwrap().buffer.to_vec();
            assert_eq!((d.width(), d.height()), (96, 64));
            frames.push(first);
        }
        assert_eq!(frames[0], frames[1], "EGL and OSMesa frames differ");
    }
}
