//! Whether a segmentation model may run batches. Making the batch dimension symbolic
//! ([`super::onnx_batch`]) only frees the graph's inputs and outputs: a graph that reshapes to a
//! fixed batch of 1 inside (MediaPipe's selfie model) then fails on a batch of 2, and a graph
//! could also run one while mixing its images. So at load, unless the manifest says
//! `batch = false`, the model runs two different inputs alone and then together, and batches
//! only if the batch ran and gave each image what it got alone.
//!
//! Invariant: a model the probe refuses is never given more than one image per run; a manifest
//! that insists on `batch = true` for such a model is a startup error, not a silent downgrade.

/// Largest difference between a batched output and the same input's output alone, relative
/// to the output's magnitude, still taken as the same result (kernels may sum in another order).
const TOLERANCE: f32 = 1e-5;

/// Runs `n` inputs (concatenated) through the model and returns the concatenated outputs.
pub type Run<'a> = dyn FnMut(usize, Vec<f32>) -> Result<Vec<f32>, String> + 'a;

/// Runs `a` and `b` alone and as a batch of two; `Err` says why the model must not be batched.
pub fn probe(run: &mut Run<'_>, a: Vec<f32>, b: Vec<f32>) -> Result<(), String> {
    let alone_a = run(1, a.clone()).map_err(|e| format!("a single run failed: {e}"))?;
    let alone_b = run(1, b.clone()).map_err(|e| format!("a single run failed: {e}"))?;
    let both = run(2, [a, b].concat()).map_err(|e| format!("a batch of 2 failed: {e}"))?;
    if both.len() != alone_a.len() + alone_b.len() {
        return Err(format!(
            "a batch of 2 gave {} values for 2 × {}",
            both.len(),
            alone_a.len()
        ));
    }
    let (first, second) = both.split_at(alone_a.len());
    for (batched, alone, which) in [(first, &alone_a, "first"), (second, &alone_b, "second")] {
        let scale = alone.iter().fold(1f32, |m, v| m.max(v.abs()));
        let worst = batched
            .iter()
            .zip(alone)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        if worst.is_nan() || worst > TOLERANCE * scale {
            return Err(format!(
                "in a batch of 2 the {which} image's output differs from its output alone by up to {worst}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A per-image model: each image of a batch gets its values doubled.
    fn per_image(n: usize, data: Vec<f32>) -> Result<Vec<f32>, String> {
        assert_eq!(data.len() % n, 0);
        Ok(data.iter().map(|v| v * 2.0).collect())
    }

    #[test]
    fn a_model_that_treats_each_image_alone_may_batch() {
        assert_eq!(
            probe(&mut per_image, vec![1.0, 2.0], vec![3.0, 4.0]),
            Ok(())
        );
    }

    #[test]
    fn a_model_whose_batch_fails_is_refused() {
        // Like the selfie graph: an inner reshape to a batch of 1.
        let mut fixed = |n: usize, data: Vec<f32>| {
            if n == 1 {
                Ok(data)
            } else {
                Err("Reshape: requested shape {1,256,256,1}".to_string())
            }
        };
        let why = probe(&mut fixed, vec![1.0], vec![2.0]).unwrap_err();
        assert!(why.contains("batch of 2 failed"), "{why}");
    }

    #[test]
    fn a_model_that_mixes_images_is_refused() {
        // Normalises over the whole batch instead of per image.
        let mut mixing = |_: usize, data: Vec<f32>| {
            let sum: f32 = data.iter().sum();
            Ok(data.iter().map(|v| v / sum).collect())
        };
        let why = probe(&mut mixing, vec![1.0, 2.0], vec![3.0, 4.0]).unwrap_err();
        assert!(why.contains("differs"), "{why}");
    }

    #[test]
    fn a_batch_with_the_wrong_number_of_values_is_refused() {
        let mut first_only = |n: usize, data: Vec<f32>| Ok(data[..data.len() / n].to_vec());
        let why = probe(&mut first_only, vec![1.0], vec![2.0]).unwrap_err();
        assert!(why.contains("values"), "{why}");
    }

    #[test]
    fn a_failing_single_run_is_reported_as_such() {
        let mut broken = |_: usize, _: Vec<f32>| Err("no".to_string());
        let why = probe(&mut broken, vec![1.0], vec![2.0]).unwrap_err();
        assert!(why.contains("single run failed"), "{why}");
    }
}
