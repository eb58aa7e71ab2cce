//! The chart of a report: findings per rule over the last runs of a job, as a
//! PNG embedded in the mail (by Content-ID). Drawn by plotters into an RGB
//! buffer with an embedded font (DejaVu Sans, from the `dejavu` crate) through
//! `ab_glyph`, and encoded by the `png` crate: no system fonts, no fontconfig,
//! no system library at all.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use plotters::element::DashedPathElement;
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

/// Line colours of the rules: Okabe–Ito's colour-blind-safe set without
/// its yellow, orange and sky blue (too pale on white), completed from Paul
/// Tol's. Each stands out from white by at least 3:1 (WCAG's contrast for
/// graphics); the picture carries its own white background, so a mail
/// client's dark mode does not change what the lines are drawn on. Black is
/// the total's.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(51, 34, 136),   // indigo
    RGBColor(184, 134, 11),  // dark goldenrod
    RGBColor(136, 34, 85),   // wine
    RGBColor(102, 102, 102), // grey
];

/// How a line is drawn besides its colour; with its marker, so that two
/// rules of one colour differ even where a series is a single point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Solid line, round markers.
    Solid,
    /// Dashed line, triangles.
    Dashed,
    /// Dotted line, squares.
    Dotted,
}

const PATTERNS: [Pattern; 3] = [Pattern::Solid, Pattern::Dashed, Pattern::Dotted];

/// The style of the `i`-th rule (rules in id order): every colour solid
/// first, then dashed, then dotted. 24 distinct styles; a job of more rules
/// than that starts over.
pub fn series_style(i: usize) -> (RGBColor, Pattern) {
    let i = i % (PALETTE.len() * PATTERNS.len());
    (PALETTE[i % PALETTE.len()], PATTERNS[i / PALETTE.len()])
}

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
/// and returns a PNG. The total has its own scale (the right axis), so that
/// the rules' lines use the plot's whole height instead of crowding under
/// it. Lines are named by `titles` (rule id → title) in a legend below the
/// plot, where it covers nothing.
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
    let top = |max: u64| max + max / 10 + 1;
    let rule_max = points
        .iter()
        .flat_map(|p| p.counts.values().flatten().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let total_max = totals.iter().flatten().copied().max().unwrap_or(0).max(1);
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
            .x_label_area_size(28)
            .y_label_area_size(40)
            .right_y_label_area_size(44)
            .build_cartesian_2d(0usize..last, 0u64..top(rule_max))
            .map_err(draw_err)?
            .set_secondary_coord(0usize..last, 0u64..top(total_max));
        let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
        chart
            .configure_mesh()
            // One label per run, never the same run twice.
            .x_labels(points.len().max(1))
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .y_desc("findings per rule")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        chart
            .configure_secondary_axes()
            .y_desc("total")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        let total = (BLACK, Pattern::Solid, 3);
        for seg in segments(&totals) {
            chart
                .draw_secondary_series(LineSeries::new(seg.clone(), BLACK.stroke_width(3)))
                .map_err(draw_err)?;
            chart
                .draw_secondary_series(seg.into_iter().map(|xy| Circle::new(xy, 3, BLACK.filled())))
                .map_err(draw_err)?;
        }
        let mut keys = vec![("Total (right axis)".to_string(), total)];
        for (i, rule) in rules.iter().enumerate() {
            let (colour, pattern) = series_style(i);
            let values: Vec<Option<u64>> = points
                .iter()
                .map(|p| p.counts.get(*rule).copied().flatten())
                .collect();
            for seg in segments(&values) {
                // Pixels of the whole picture, made relative to the plot.
                let (ox, oy) = plot.get_base_pixel();
                let line: Vec<(i32, i32)> = seg
                    .iter()
                    .map(|xy| chart.backend_coord(xy))
                    .map(|(x, y)| (x - ox, y - oy))
                    .collect();
                draw_line(&plot, &line, &line, colour, pattern, 2)?;
            }
            let title = titles
                .get(*rule)
                .cloned()
                .unwrap_or_else(|| rule.to_string());
            keys.push((title, (colour, pattern, 2)));
        }
        let column_w = (WIDTH as i32 - 24) / LEGEND_COLUMNS as i32;
        for (i, (title, (colour, pattern, width))) in keys.iter().enumerate() {
            let x = 12 + (i % LEGEND_COLUMNS) as i32 * column_w;
            let y = 4 + (i / LEGEND_COLUMNS) as i32 * LEGEND_ROW as i32;
            let sample = [(x, y + 7), (x + 26, y + 7)];
            draw_line(
                &legend,
                &sample,
                &[(x + 13, y + 7)],
                *colour,
                *pattern,
                *width,
            )?;
            let shown: String = if title.chars().count() > 44 {
                format!("{}…", title.chars().take(43).collect::<String>())
            } else {
                title.clone()
            };
            legend
                .draw(&Text::new(
                    shown,
                    (x + 32, y),
                    ("sans-serif", 12).into_font().color(&BLACK),
                ))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    encode(&buffer, WIDTH, height)
}

/// A line through `points` (pixels of `area`), in its pattern, with the
/// pattern's marker at `marks`.
fn draw_line(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    points: &[(i32, i32)],
    marks: &[(i32, i32)],
    colour: RGBColor,
    pattern: Pattern,
    width: u32,
) -> Result<(), ChartError> {
    let stroke = colour.stroke_width(width);
    match pattern {
        Pattern::Solid => area.draw(&PathElement::new(points.to_vec(), stroke)),
        Pattern::Dashed => area.draw(&DashedPathElement::new(points.to_vec(), 7, 5, stroke)),
        Pattern::Dotted => area.draw(&DashedPathElement::new(points.to_vec(), 2, 4, stroke)),
    }
    .map_err(draw_err)?;
    for &(x, y) in marks {
        let fill = colour.filled();
        match pattern {
            Pattern::Solid => area.draw(&Circle::new((x, y), 3, fill)),
            Pattern::Dashed => area.draw(&TriangleMarker::new((x, y), 5, fill)),
            Pattern::Dotted => area.draw(&Rectangle::new([(x - 3, y - 3), (x + 3, y + 3)], fill)),
        }
        .map_err(draw_err)?;
    }
    Ok(())
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

    /// WCAG's contrast ratio of a colour against white.
    fn contrast_on_white(c: RGBColor) -> f64 {
        let lin = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        let l = 0.2126 * lin(c.0) + 0.7152 * lin(c.1) + 0.0722 * lin(c.2);
        1.05 / (l + 0.05)
    }

    #[test]
    fn sixteen_rules_get_sixteen_distinct_styles_that_show_on_white() {
        let styles: Vec<((u8, u8, u8), Pattern)> = (0..16)
            .map(series_style)
            .map(|(c, p)| ((c.0, c.1, c.2), p))
            .collect();
        let distinct: std::collections::HashSet<_> = styles.iter().collect();
        assert_eq!(distinct.len(), 16, "{styles:?}");
        // 24 before any repeats (a deployment's own rules on top of ours).
        let all: std::collections::HashSet<_> = (0..24)
            .map(series_style)
            .map(|(c, p)| ((c.0, c.1, c.2), p))
            .collect();
        assert_eq!(all.len(), 24);
        for c in PALETTE {
            assert_ne!((c.0, c.1, c.2), (0, 0, 0), "black is the total's");
            let ratio = contrast_on_white(c);
            assert!(ratio >= 3.0, "{c:?} is {ratio:.2}:1 on white");
        }
    }

    #[test]
    fn sixteen_rules_are_drawn_in_their_colours_on_an_opaque_white_picture() {
        let rules: Vec<String> = (0..16).map(|i| format!("rule-{i:02}")).collect();
        let points: Vec<Point> = (0..4u64)
            .map(|run| Point {
                label: format!("2026-0{}-01", run + 1),
                counts: rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.clone(), Some(i as u64 + run)))
                    .collect(),
            })
            .collect();
        let png_bytes = findings_per_rule(&points, &BTreeMap::new()).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        // No alpha channel: a dark-mode client cannot show its own background
        // through the picture.
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(&pixels[..3], &[255, 255, 255], "the corner is not white");
        let rgb: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
        for c in PALETTE {
            assert!(
                rgb.contains(&[c.0, c.1, c.2][..]),
                "no line in {c:?} among 16 rules"
            );
        }
        // The legend has a row for every rule and the total: 9 rows of 2.
        assert_eq!(info.height, HEIGHT + 8 + 9 * LEGEND_ROW);
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
