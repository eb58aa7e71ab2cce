//! The chart of a report: findings per rule over the last runs of a job, as a
//! PNG embedded in the mail (by Content-ID). Drawn by plotters into an RGB
//! buffer with an embedded font (DejaVu Sans, from the `dejavu` crate) through
//! `ab_glyph`, and encoded by the `png` crate: no system fonts, no fontconfig,
//! no system library at all.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use plotters::prelude::*;

/// The Content-ID of the chart in the HTML part (`<img src="cid:…">`).
pub const CHART_CID: &str = "findings-chart";

/// The Content-ID of the findings-by-department bar chart.
pub const DEPARTMENTS_CID: &str = "findings-by-department";

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG: {0}")]
    Encode(#[from] png::EncodingError),
}

/// One run on the chart: its label (a date, with the time when two runs
/// share a day) and the findings of each rule; None: the rule was not
/// evaluated in that run (drawn as a gap, never as 0).
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub counts: BTreeMap<String, Option<u64>>,
}

pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 360;

/// Colour-blind-safe palette (Okabe–Ito), one colour per rule in order.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

fn register_font() -> Result<(), ChartError> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = FONT.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    });
    if *ok {
        Ok(())
    } else {
        Err(ChartError::Draw("the embedded font cannot be read".into()))
    }
}

fn draw_err(e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// Splits a series at its gaps: the runs where it has no value.
fn segments(values: &[Option<u64>]) -> Vec<Vec<(usize, u64)>> {
    let mut out: Vec<Vec<(usize, u64)>> = vec![Vec::new()];
    for (x, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                if let Some(last) = out.last_mut() {
                    last.push((x, *v));
                }
            }
            None => out.push(Vec::new()),
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Height of one legend row, and entries per row.
const LEGEND_ROW: u32 = 18;
const LEGEND_COLUMNS: usize = 2;

/// Draws one line per rule across `points` (oldest first), and the total,
/// and returns a PNG. Lines are named by `titles` (rule id → title) in a
/// legend below the plot, where it covers nothing.
pub fn findings_per_rule(
    points: &[Point],
    titles: &BTreeMap<String, String>,
) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    let rules: Vec<&String> = {
        let mut all: Vec<&String> = points.iter().flat_map(|p| p.counts.keys()).collect();
        all.sort();
        all.dedup();
        all
    };
    // The total of a run where a rule was not evaluated is unknown: a gap.
    let totals: Vec<Option<u64>> = points
        .iter()
        .map(|p| p.counts.values().copied().sum::<Option<u64>>())
        .collect();
    let max = totals
        .iter()
        .flatten()
        .copied()
        .chain(
            points
                .iter()
                .flat_map(|p| p.counts.values().flatten().copied()),
        )
        .max()
        .unwrap_or(0)
        .max(1);
    let entries = rules.len() + 1;
    let legend_rows = entries.div_ceil(LEGEND_COLUMNS) as u32;
    let height = HEIGHT + 8 + legend_rows * LEGEND_ROW;
    let mut buffer = vec![255u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (plot, legend) = root.split_vertically(HEIGHT);
        let last = points.len().saturating_sub(1).max(1);
        let mut chart = ChartBuilder::on(&plot)
            .caption("Findings per rule, last runs", ("sans-serif", 18))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(0usize..last, 0u64..(max + max / 10 + 1))
            .map_err(draw_err)?;
        let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
        chart
            .configure_mesh()
            // One label per run, never the same run twice.
            .x_labels(points.len().max(1))
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .y_desc("findings")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        let mut keys: Vec<(String, ShapeStyle)> = Vec::new();
        let mut draw = |values: &[Option<u64>], style: ShapeStyle| -> Result<(), ChartError> {
            for seg in segments(values) {
                chart
                    .draw_series(LineSeries::new(seg.clone(), style))
                    .map_err(draw_err)?;
                chart
                    .draw_series(seg.into_iter().map(|xy| Circle::new(xy, 3, style.filled())))
                    .map_err(draw_err)?;
            }
            Ok(())
        };
        draw(&totals, BLACK.stroke_width(3))?;
        keys.push(("Total".to_string(), BLACK.stroke_width(3)));
        for (i, rule) in rules.iter().enumerate() {
            // Black is the total's; rules take the other colours.
            let colour = PALETTE[i % (PALETTE.len() - 1)];
            let values: Vec<Option<u64>> = points
                .iter()
                .map(|p| p.counts.get(*rule).copied().flatten())
                .collect();
            draw(&values, colour.stroke_width(2))?;
            let title = titles
                .get(*rule)
                .cloned()
                .unwrap_or_else(|| rule.to_string());
            keys.push((title, colour.stroke_width(2)));
        }
        let column_w = (WIDTH as i32 - 24) / LEGEND_COLUMNS as i32;
        for (i, (title, style)) in keys.iter().enumerate() {
            let x = 12 + (i % LEGEND_COLUMNS) as i32 * column_w;
            let y = 4 + (i / LEGEND_COLUMNS) as i32 * LEGEND_ROW as i32;
            legend
                .draw(&PathElement::new(vec![(x, y + 7), (x + 18, y + 7)], *style))
                .map_err(draw_err)?;
            let shown: String = if title.chars().count() > 44 {
                format!("{}…", title.chars().take(43).collect::<String>())
            } else {
                title.clone()
            };
            legend
                .draw(&Text::new(
                    shown,
                    (x + 24, y),
                    ("sans-serif", 12).into_font().color(&BLACK),
                ))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    encode(&buffer, WIDTH, height)
}

fn encode(buffer: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(buffer)?;
    }
    Ok(png_bytes)
}

/// The most departments the bar chart draws; the rest are summed as "other".
const DEPARTMENT_BARS: usize = 10;

/// Horizontal bars: findings per department (most first), as a PNG.
pub fn findings_by_department(departments: &[(String, u64)]) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    let mut bars: Vec<(String, u64)> = departments.iter().take(DEPARTMENT_BARS).cloned().collect();
    let rest: u64 = departments.iter().skip(DEPARTMENT_BARS).map(|d| d.1).sum();
    if rest > 0 {
        bars.push(("other departments".to_string(), rest));
    }
    let rows = bars.len().max(1) as u32;
    let height = 60 + rows * 26;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let mut buffer = vec![255u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let label_w = 200i32;
        let top = 36i32;
        let bar_area = WIDTH as i32 - label_w - 70;
        root.draw(&Text::new(
            "Findings by department",
            (12, 8),
            ("sans-serif", 18).into_font().color(&BLACK),
        ))
        .map_err(draw_err)?;
        if bars.is_empty() {
            root.draw(&Text::new(
                "No findings.",
                (label_w, top + 4),
                ("sans-serif", 13).into_font().color(&BLACK),
            ))
            .map_err(draw_err)?;
        }
        for (i, (name, n)) in bars.iter().enumerate() {
            let y = top + i as i32 * 26;
            // Long names are cut so that they never run into the bars.
            let shown: String = if name.chars().count() > 26 {
                format!("{}…", name.chars().take(25).collect::<String>())
            } else {
                name.clone()
            };
            root.draw(&Text::new(
                shown,
                (12, y + 4),
                ("sans-serif", 13).into_font().color(&BLACK),
            ))
            .map_err(draw_err)?;
            let w = ((*n as f64 / max as f64) * bar_area as f64)
                .round()
                .max(2.0) as i32;
            root.draw(&Rectangle::new(
                [(label_w, y), (label_w + w, y + 18)],
                PALETTE[0].filled(),
            ))
            .map_err(draw_err)?;
            root.draw(&Text::new(
                n.to_string(),
                (label_w + w + 6, y + 3),
                ("sans-serif", 13).into_font().color(&BLACK),
            ))
            .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    encode(&buffer, WIDTH, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_of_the_expected_size_with_ink_on_it() {
        let points: Vec<Point> = (0..3)
            .map(|i| Point {
                label: format!("2026-0{}-01", i + 1),
                counts: BTreeMap::from([
                    ("idle-accounts".to_string(), Some(i * 4)),
                    // Not evaluated in the middle run: a gap.
                    ("bulk-export".to_string(), (i != 1).then_some(2)),
                ]),
            })
            .collect();
        let titles = BTreeMap::from([("idle-accounts".to_string(), "Idle accounts".to_string())]);
        let png_bytes = findings_per_rule(&points, &titles).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(info.width, WIDTH);
        assert!(
            info.height > HEIGHT,
            "no room for the legend below the plot"
        );
        // Text and lines were drawn: many pixels are not white, some are the
        // first rule's blue.
        let rgb: Vec<&[u8]> = pixels.chunks(3).collect();
        let inked = rgb.iter().filter(|p| p != &&[255, 255, 255]).count();
        assert!(inked > 2_000, "only {inked} non-white pixels");
        assert!(
            rgb.iter().any(|p| *p == [0, 114, 178]),
            "no line in the first colour"
        );
    }

    #[test]
    fn gaps_split_a_series() {
        assert_eq!(
            segments(&[Some(1), None, Some(2), Some(3)]),
            vec![vec![(0, 1)], vec![(2, 2), (3, 3)]]
        );
        assert!(segments(&[None, None]).is_empty());
    }

    #[test]
    fn one_run_and_no_findings_still_draw() {
        let png_bytes = findings_per_rule(
            &[Point {
                label: "2026-11-01".into(),
                counts: BTreeMap::new(),
            }],
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(&png_bytes[..4], b"\x89PNG");
    }
}
