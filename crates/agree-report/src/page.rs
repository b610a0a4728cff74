//! The report page: one self-contained HTML file (figures inlined as data URIs, no
//! scripts or styles fetched), with the headline numbers above the figures.

use std::fmt::Write;

use base64::Engine;

use crate::{
    figure::{Figure, Section},
    report::ReportInputs,
    shaping,
    tables::Group,
};

/// Strongest correlations listed on the page.
const TOP_CORRELATIONS: usize = 10;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fraction as a percentage with one decimal.
fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;max-width:1800px;margin:2em auto;\
padding:0 1.5em;color:#222;line-height:1.45}h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;\
padding-bottom:.2em}table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #ddd;padding:.3em .7em;\
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}\
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{color:#444;max-width:70em;margin-top:.4em}\
.notes li{color:#8a4b00}.muted{color:#777}.pos{color:#1a7f37}.neg{color:#b42318}";

/// Marks every image that decoded (`data-loaded`) and counts them on `<body>`, so a
/// headless browser's DOM dump shows whether every figure loaded.
const LOAD_CHECK: &str = "<script>window.addEventListener('load',function(){var imgs=document.images,ok=0;\
for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){imgs[i].setAttribute('data-loaded','true');ok++;}}\
document.body.setAttribute('data-images-total',imgs.length);document.body.setAttribute('data-images-loaded',ok);});</script>";

/// Renders the page.
pub fn render(inputs: &ReportInputs, figures: &[Figure], notes: &[String], focus: Option<&Group>) -> String {
    let mut h = String::new();
    let dataset = inputs.manifest.as_ref().map_or("experiment", |m| m.dataset.as_str());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>agree report: {}</title><style>{STYLE}</style>{LOAD_CHECK}</head><body>\n",
        escape(dataset)
    );
    let _ = writeln!(
        h,
        "<h1>Do independently trained classifiers agree? — {}</h1>\
         <p class=\"muted\">Written by <code>agree report</code> {}. Fractions in tables are shown as percentages.</p>",
        escape(dataset),
        env!("CARGO_PKG_VERSION")
    );
    dataset_section(&mut h, inputs);
    networks_section(&mut h, inputs);
    agreement_section(&mut h, inputs);
    correlation_section(&mut h, inputs, focus);
    if !notes.is_empty() {
        h.push_str("<h2>Left out</h2><ul class=\"notes\">");
        for n in notes {
            let _ = write!(h, "<li>{}</li>", escape(n));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Figures</h2>\n");
    for f in figures.iter().filter(|f| f.section == Section::Figures) {
        figure_html(&mut h, f);
    }
    let dynamics: Vec<&Figure> = figures
        .iter()
        .filter(|f| f.section == Section::SampleDynamics)
        .collect();
    if !dynamics.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Per-sample learning dynamics{}</h2><p class=\"muted\">Scores of every sample from the same \
             predictions (results/sample_dynamics.parquet): where it sits on the data map, and how the literature's \
             notions of difficulty (learned epoch, AUM, EL2N, cumulative accuracy, forgetting events, first-learned \
             epoch, confidence, variability) relate to each other and to the image statistics \
             (results/score_correlation.parquet).</p>",
            focus.map_or(String::new(), |g| format!(" — {}", escape(&g.networks())))
        );
        for f in dynamics {
            figure_html(&mut h, f);
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// One figure: its heading, the inlined PNG, the caption and links to both files.
fn figure_html(h: &mut String, f: &Figure) {
    let data = base64::engine::general_purpose::STANDARD.encode(&f.png);
    let _ = writeln!(
        h,
        "<figure id=\"{name}\"><h3>{title}</h3><img src=\"data:image/png;base64,{data}\" width=\"{w}\" height=\"{hgt}\" \
         alt=\"{title}\" data-figure=\"{name}\"><figcaption>{caption} Files: \
         <a href=\"figures/{name}.png\">figures/{name}.png</a>, <a href=\"figures/{name}.svg\">figures/{name}.svg</a>.\
         </figcaption></figure>",
        name = escape(&f.name),
        title = escape(&f.title),
        caption = escape(&f.caption),
        w = f.width,
        hgt = f.height,
    );
}

fn dataset_section(h: &mut String, inputs: &ReportInputs) {
    h.push_str("<h2>Dataset</h2>");
    if let Some(m) = &inputs.manifest {
        let _ = write!(
            h,
            "<p>{} samples, {} classes (manifest.json).</p>",
            m.samples,
            m.classes.len()
        );
    }
    match &inputs.samples {
        Some(s) => {
            h.push_str("<table><tr><th>split</th><th>samples</th><th>classes</th><th>smallest class</th><th>largest class</th></tr>");
            for (split, classes) in &s.counts {
                let total: u64 = classes.values().sum();
                let min = classes.values().min().copied().unwrap_or(0);
                let max = classes.values().max().copied().unwrap_or(0);
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{total}</td><td>{}</td><td>{min}</td><td>{max}</td></tr>",
                    escape(split),
                    classes.len()
                );
            }
            h.push_str("</table>\n");
        }
        None => h.push_str("<p class=\"muted\">samples.parquet is absent: no counts.</p>\n"),
    }
}

fn networks_section(h: &mut String, inputs: &ReportInputs) {
    let Some(networks) = &inputs.networks else {
        return;
    };
    h.push_str(
        "<h2>Networks</h2><table><tr><th>run</th><th>epochs</th><th>train accuracy</th><th>test accuracy</th>\
         <th>training time</th></tr>",
    );
    for n in networks {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0} s</td></tr>",
            escape(&n.run_id),
            n.epoch,
            pct(n.train_accuracy),
            n.test_accuracy.map_or("–".into(), pct),
            n.wall_s
        );
    }
    h.push_str("</table>\n");
}

fn agreement_section(h: &mut String, inputs: &ReportInputs) {
    h.push_str(
        "<h2>Agreement at the last epoch</h2><table><tr><th>group</th><th>split</th><th>epoch</th><th>networks</th>\
         <th>samples</th><th>mean accuracy ± std</th><th>agreement</th><th>lower bound</th><th>independent</th>\
         <th>agreement − lower bound</th></tr>",
    );
    for r in shaping::final_epochs(&inputs.agreement) {
        let gap = r.agreement - r.lower_bound;
        let _ = write!(
            h,
            "<tr><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ± {}</td><td><b>{}</b></td>\
             <td>{}</td><td>{}</td><td class=\"{}\">{:+.1} pp</td></tr>",
            escape(&r.group.name),
            escape(&r.group.kind.replace('_', " ")),
            escape(&r.group.split),
            r.epoch,
            r.n_networks,
            r.n_samples,
            pct(r.mean_accuracy),
            pct(r.std_accuracy),
            pct(r.agreement),
            pct(r.lower_bound),
            pct(r.independent),
            if gap >= 0.0 { "pos" } else { "neg" },
            100.0 * gap
        );
    }
    h.push_str("</table>\n");
}

fn correlation_section(h: &mut String, inputs: &ReportInputs, focus: Option<&Group>) {
    let (Some(rows), Some(focus)) = (&inputs.correlation, focus) else {
        h.push_str(
            "<h2>Correlations</h2><p class=\"muted\">results/statistic_correlation.parquet is absent: no correlations.</p>\n",
        );
        return;
    };
    let _ = write!(
        h,
        "<h2>Strongest correlations with learned epoch — {}</h2>\
         <p class=\"muted\">Spearman ρ between learned_epoch (never learned ranked last) and each statistic, bootstrap \
         95% interval; positive ρ: larger values are learned later.</p>\
         <table><tr><th>statistic</th><th>n</th><th>Spearman ρ</th><th>95% CI</th><th>Kendall τ</th></tr>",
        escape(&focus.label())
    );
    for r in shaping::top_correlations(rows, focus, TOP_CORRELATIONS) {
        let ci = match (r.spearman_ci_low, r.spearman_ci_high) {
            (Some(lo), Some(hi)) => format!("[{lo:+.3}, {hi:+.3}]"),
            _ => "–".into(),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><b>{:+.3}</b></td><td>{ci}</td><td>{}</td></tr>",
            escape(&r.statistic),
            r.n,
            r.spearman_rho.unwrap_or(f64::NAN),
            r.kendall_tau.map_or("–".into(), |t| format!("{t:+.3}"))
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
        assert_eq!(pct(0.1234), "12.3%");
    }
}
