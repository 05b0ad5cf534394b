//! The library API in a few lines: formulas on CSV data → model → fit → report.
//!
//! Run with `cargo run --release --example library`.

use mcla::model::design::{load_model, DataRequest, ModelInput};
use mcla::output::report::{text_report, ReportInfo};
use mcla::{fit, CrossedDesign, Family, FitOptions};
use mcla_formula::{DataFrame, FrameOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Any CSV text or file works; here a salamander-shaped data set simulated by the library.
    let truth_beta = [1.0, 0.3, -1.9, 1.0];
    let truth_nu = [1.4, 1.25];
    let csv = mcla::model::design::crossed_design_csv(
        &CrossedDesign::default(),
        &truth_beta,
        &truth_nu,
        7,
    )?;
    let frame = DataFrame::from_reader(csv.as_bytes(), &FrameOptions::default())?;

    // R: glmm(Mate ~ 0 + Cross, random = list(~ 0 + Female, ~ 0 + Male),
    //         varcomps.names = c("F", "M"), family.glmm = bernoulli.glmm, m = 10^4)
    let request = DataRequest {
        fixed: "Mate ~ 0 + Cross".into(),
        random: vec!["~ 0 + Female".into(), "~ 0 + Male".into()],
        weights: None,
        input: ModelInput {
            family: Family::Bernoulli,
            varcomps_names: vec!["F".into(), "M".into()],
            varcomps_equal: None,
        },
    };
    let (design, model) = load_model(&frame, &request)?;
    let f = fit(
        &model,
        &FitOptions {
            m: 10_000,
            seed: 1234,
            ..FitOptions::default()
        },
    )?;

    println!("beta = {:?}", f.coef());
    println!("nu   = {:?}", f.varcomps());
    println!("se   = {:?}", f.se);
    println!("mcse = {:?}", f.mcse);
    println!("95% intervals = {:?}", f.confint(0.95, &["F", "M"])?);
    assert!(f.converged);

    // The same report as `mcla fit`.
    let info = ReportInfo {
        dropped_rows: design.dropped_rows,
        ..ReportInfo::new("(library example)", design.n_rows_read)
    };
    print!("{}", text_report(&f, &info));
    Ok(())
}
