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

/// One run on the chart: its label (a date) and the findings of each rule.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub counts: BTreeMap<String, u64>,
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

/// Draws one line per rule across `points` (oldest first) and returns a PNG.
pub fn findings_per_rule(points: &[Point]) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    let rules: Vec<&String> = {
        let mut all: Vec<&String> = points.iter().flat_map(|p| p.counts.keys()).collect();
        all.sort();
        all.dedup();
        all
    };
    let max = points
        .iter()
        .flat_map(|p| p.counts.values())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let mut buffer = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let last = points.len().saturating_sub(1).max(1);
        let mut chart = ChartBuilder::on(&root)
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
            .x_labels(points.len().clamp(2, 12))
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .y_desc("findings")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        for (i, rule) in rules.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let series: Vec<(usize, u64)> = points
                .iter()
                .enumerate()
                .map(|(x, p)| (x, p.counts.get(*rule).copied().unwrap_or(0)))
                .collect();
            chart
                .draw_series(LineSeries::new(series.clone(), colour.stroke_width(2)))
                .map_err(draw_err)?
                .label(rule.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(
                    series
                        .into_iter()
                        .map(|xy| Circle::new(xy, 3, colour.filled())),
                )
                .map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    encode(&buffer, WIDTH, HEIGHT)
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
                    ("idle-accounts".to_string(), i * 4),
                    ("bulk-export".to_string(), 2),
                ]),
            })
            .collect();
        let png_bytes = findings_per_rule(&points).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
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
    fn one_run_and_no_findings_still_draw() {
        let png_bytes = findings_per_rule(&[Point {
            label: "2026-11-01".into(),
            counts: BTreeMap::new(),
        }])
        .unwrap();
        assert_eq!(&png_bytes[..4], b"\x89PNG");
    }
}
