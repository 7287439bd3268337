//! `faultline run --timeline`: the kernel's counter samples
//! (`kernel/src/mm/timeline.rs`, `FAULTLINE-TIMELINE` lines on serial)
//! as `timeline.csv` and a line chart, `timeline.svg`.
//!
//! In the CSV, the vmstat events are per-interval deltas (what happened
//! since the previous sample); `memcg_pages`, `zswap_pool_pages`,
//! `swap_used_slots` and `nr_running` are levels at the sample. Times are
//! in millions of cycles of the run's clock (guest instructions under
//! `--deterministic`, host TSC cycles otherwise).

use std::path::Path;

use crate::chart::{line_chart, Panel};

const HEADER: &str = "FAULTLINE-TIMELINE-COLUMNS ";
const LINE: &str = "FAULTLINE-TIMELINE ";

/// Columns that are levels, not cumulative events.
const LEVELS: [&str; 4] = [
    "memcg_pages",
    "zswap_pool_pages",
    "swap_used_slots",
    "nr_running",
];

/// The samples: column names and rows (cumulative as the kernel sent them).
#[derive(Debug)]
pub struct Timeline {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

/// Reads the samples from a serial log; `None` when there are none.
pub fn parse(serial: &str) -> Result<Option<Timeline>, String> {
    let Some(header) = serial.lines().find_map(|l| l.strip_prefix(HEADER)) else {
        return Ok(None);
    };
    let columns: Vec<String> = header.trim().split(',').map(str::to_string).collect();
    let mut rows = Vec::new();
    for (n, l) in serial
        .lines()
        .filter_map(|l| l.strip_prefix(LINE))
        .enumerate()
    {
        let row: Vec<f64> = l
            .trim()
            .split(',')
            .map(|x| x.parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("timeline sample {n}: {e}: {l}"))?;
        if row.len() != columns.len() {
            return Err(format!(
                "timeline sample {n}: {} values for {} columns",
                row.len(),
                columns.len()
            ));
        }
        rows.push(row);
    }
    Ok(Some(Timeline { columns, rows }))
}

impl Timeline {
    fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Rows with events turned into per-interval deltas.
    pub fn deltas(&self) -> Vec<Vec<f64>> {
        let mut prev = vec![0.0; self.columns.len()];
        self.rows
            .iter()
            .map(|row| {
                let out = row
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let c = self.columns[i].as_str();
                        if i == 0 || LEVELS.contains(&c) {
                            *v
                        } else {
                            v - prev[i]
                        }
                    })
                    .collect();
                prev.clone_from(row);
                out
            })
            .collect()
    }

    pub fn csv(&self) -> String {
        let mut s = self.columns.join(",") + "\n";
        for row in self.deltas() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
            s += &cells.join(",");
            s.push('\n');
        }
        s
    }

    /// Events per million cycles in each interval, and the levels.
    pub fn svg(&self, title: &str) -> String {
        let deltas = self.deltas();
        let xs: Vec<f64> = deltas.iter().map(|r| r[0]).collect();
        let rate = |name: &'static str| -> Option<(&'static str, Vec<f64>)> {
            let i = self.col(name)?;
            let mut prev_t = 0.0;
            let ys = deltas
                .iter()
                .map(|r| {
                    let dt = (r[0] - prev_t).max(1e-9);
                    prev_t = r[0];
                    r[i] / dt
                })
                .collect();
            Some((name, ys))
        };
        let level = |name: &'static str| -> Option<(&'static str, Vec<f64>)> {
            let i = self.col(name)?;
            Some((name, deltas.iter().map(|r| r[i]).collect()))
        };
        let events = [
            "pgmajfault",
            "pgfault_swapcache",
            "swap_ra",
            "zswpin",
            "pswpout",
            "zswpout",
        ];
        let panels = [
            Panel {
                y_title: "events per Mcycle",
                series: events.into_iter().filter_map(rate).collect(),
            },
            Panel {
                y_title: "pages",
                series: ["memcg_pages", "zswap_pool_pages", "swap_used_slots"]
                    .into_iter()
                    .filter_map(level)
                    .collect(),
            },
        ];
        line_chart(title, "time (Mcycles of the run's clock)", &xs, &panels)
    }

    /// Writes `timeline.csv` and `timeline.svg` into `dir`.
    pub fn write(&self, dir: &Path, title: &str) -> Result<Vec<String>, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut names = Vec::new();
        for (name, text) in [
            ("timeline.csv", self.csv()),
            ("timeline.svg", self.svg(title)),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            names.push(path.display().to_string());
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL: &str = "boot\nFAULTLINE-TIMELINE-COLUMNS t_mcycles,pgmajfault,memcg_pages\n\
        FAULTLINE-TIMELINE 0.000,0,10\nFAULTLINE-TIMELINE 100.500,40,4096\n\
        FAULTLINE-TIMELINE 200.000,100,4096\nFAULTLINE-RESULT {}\n";

    #[test]
    fn events_become_deltas_levels_stay() {
        let t = parse(SERIAL).unwrap().unwrap();
        assert_eq!(t.rows.len(), 3);
        assert_eq!(
            t.csv(),
            "t_mcycles,pgmajfault,memcg_pages\n0,0,10\n100.5,40,4096\n200,60,4096\n"
        );
        let svg = t.svg("x");
        assert!(svg.contains("events per Mcycle") && svg.contains("pgmajfault"));
        assert!(parse("no samples").unwrap().is_none());
        let bad = SERIAL.replace("100.500,40,4096", "100.500,40");
        assert!(parse(&bad).unwrap_err().contains("2 values for 3 columns"));
    }
}
