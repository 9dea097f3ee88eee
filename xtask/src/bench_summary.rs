//! `cargo xtask bench`: the sections of parts (a) and (b), and one table of issue 18's figures
//! beside their same-run baselines and aims, printed and as JSON.

use serde_json::{Value, json};

use crate::bench::{BackendRun, LoadResult, Report, WritesPerText, errors_text};
use crate::bench_ack::{ACK_CONNECTIONS, AIM_ACK_P99_MS, AIM_ACK_TO_STORE, HOLD_PUMP_ENV};
use crate::bench_ramp::{
    ACCEPT_TOLERANCE, AIM_SUSTAINED, GRACE, GROWTH_LIMIT, GROWTH_SLACK, QUEUE_LIMIT,
    RAMP_CONNECTIONS, RAMP_RATES, SEQUENTIAL_TEXTS, STEP, TRACE_EVERY,
};

/// Mixed load (webhooks and the pipeline together) at 16 connections.
const AIM_MIXED_RPS: f64 = 5_000.0;
const AIM_MIXED_P99_MS: f64 = 10.0;
/// PostgreSQL against SQLite, for the ack path and the sustained rate.
const AIM_PG_TO_SQLITE: f64 = 0.8;
/// Counted per answered text.
const AIM_SQLITE_TRANSACTIONS: f64 = 3.0;
const AIM_PG_STATEMENTS: f64 = 12.0;
const AIM_PG_COMMITS: f64 = 4.0;
/// Resident memory once the webhook cases' texts are drained.
pub(crate) const AIM_DRAINED_RSS_MIB: f64 = 50.0;

/// The figures before the work (same kind of machine, earlier runs): context only.
const BEFORE_MIXED: &str = "before issue 18: 4,517/s (this bench), 2,343/s p99 16.1 ms (wrk)";
const BEFORE_SUSTAINED: &str = "before issue 18: about 500 answered/s";
const BEFORE_PG_RATIO: &str = "before issue 18: PostgreSQL accepted 0.45x SQLite";

/// One figure of the table.
struct Row {
    figure: String,
    measured: String,
    baseline: String,
    aim: String,
    /// `None`: not measured, or context without an aim.
    met: Option<bool>,
}

fn row(
    figure: impl Into<String>,
    measured: String,
    baseline: String,
    aim: &str,
    met: Option<bool>,
) -> Row {
    Row {
        figure: figure.into(),
        measured,
        baseline,
        aim: aim.to_owned(),
        met,
    }
}

fn verdict_text(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT MET",
        None => "-",
    }
}

/// `12345.6` as `12,346`.
fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

fn rate_p99(r: &LoadResult) -> String {
    format!("{}/s p99 {:.1} ms", thousands(r.rps), r.p99_ms)
}

fn bare_16(report: &Report) -> Option<&LoadResult> {
    report
        .cases
        .iter()
        .find(|c| c.connections == ACK_CONNECTIONS)
        .map(|c| &c.bare)
}

fn mixed_16(report: &Report) -> Option<&LoadResult> {
    report
        .cases
        .iter()
        .find(|c| c.connections == ACK_CONNECTIONS)
        .map(|c| &c.gateway)
}

fn ack_met(run: &BackendRun) -> bool {
    run.ack.ratio_to_store() >= AIM_ACK_TO_STORE && run.ack.gateway.p99_ms < AIM_ACK_P99_MS
}

/// A count per answered text against its ceiling; "not counted" when the store exports none.
fn counted_row(figure: &str, value: Option<f64>, baseline: String, ceiling: f64) -> Row {
    row(
        figure,
        value.map_or_else(|| "not counted".to_owned(), |v| format!("{v:.2}")),
        baseline,
        &format!("<= {ceiling:.0}"),
        value.map(|v| v <= ceiling),
    )
}

fn not_measured(why: &str) -> String {
    format!("not measured: {why}")
}

/// Every figure of issue 18's "Figures to reach", in order.
fn rows(report: &Report) -> Vec<Row> {
    let sqlite = &report.backends.sqlite;
    let postgres = report.backends.postgres.as_ref();
    let mut out = Vec::new();
    let ack_aim = format!(">= {AIM_ACK_TO_STORE}x store alone, p99 < {AIM_ACK_P99_MS:.0} ms");
    let bare = bare_16(report);
    out.push(row(
        format!("(a) ack path alone, SQLite, {ACK_CONNECTIONS} conns"),
        rate_p99(&sqlite.ack.gateway),
        format!(
            "store alone {} -> {:.2}x; bare axum {}",
            rate_p99(&sqlite.ack.store_only),
            sqlite.ack.ratio_to_store(),
            bare.map_or_else(
                || "-".to_owned(),
                |b| format!(
                    "{}/s -> {:.3}x",
                    thousands(b.rps),
                    sqlite.ack.gateway.rps / b.rps
                )
            )
        ),
        &ack_aim,
        Some(ack_met(sqlite)),
    ));
    match postgres {
        Ok(pg) => {
            out.push(row(
                format!("(a) ack path alone, PostgreSQL, {ACK_CONNECTIONS} conns"),
                rate_p99(&pg.ack.gateway),
                format!(
                    "store alone (PostgreSQL) {} -> {:.2}x",
                    rate_p99(&pg.ack.store_only),
                    pg.ack.ratio_to_store()
                ),
                &ack_aim,
                Some(ack_met(pg)),
            ));
            let ratio = pg.ack.gateway.rps / sqlite.ack.gateway.rps;
            out.push(row(
                "(c) ack path alone, PostgreSQL / SQLite",
                format!("{ratio:.2}x"),
                format!(
                    "{} vs {}",
                    thousands(pg.ack.gateway.rps),
                    thousands(sqlite.ack.gateway.rps)
                ),
                &format!(">= {AIM_PG_TO_SQLITE}x"),
                Some(ratio >= AIM_PG_TO_SQLITE),
            ));
        }
        Err(why) => out.push(row(
            "(a)/(c) ack path alone, PostgreSQL",
            not_measured(why),
            String::new(),
            &ack_aim,
            None,
        )),
    }
    if let Some(mixed) = mixed_16(report) {
        out.push(row(
            format!("(b) mixed load accepts, SQLite, {ACK_CONNECTIONS} conns"),
            rate_p99(mixed),
            BEFORE_MIXED.to_owned(),
            &format!(
                ">= {}/s, p99 < {AIM_MIXED_P99_MS:.0} ms",
                thousands(AIM_MIXED_RPS)
            ),
            Some(mixed.rps >= AIM_MIXED_RPS && mixed.p99_ms < AIM_MIXED_P99_MS),
        ));
    }
    match postgres {
        Ok(pg) => out.push(row(
            format!("(b) mixed load accepts, PostgreSQL, {ACK_CONNECTIONS} conns"),
            rate_p99(&pg.durable),
            format!(
                "SQLite, same fresh-gateway load: {} -> {:.2}x ({BEFORE_PG_RATIO})",
                rate_p99(&sqlite.durable),
                pg.durable.rps / sqlite.durable.rps
            ),
            "context",
            None,
        )),
        Err(why) => out.push(row(
            "(b) mixed load accepts, PostgreSQL",
            not_measured(why),
            String::new(),
            "context",
            None,
        )),
    }
    let sustained_aim = format!(">= {}/s, queue flat", thousands(AIM_SUSTAINED));
    let sustained = |run: &BackendRun| run.ramp.sustained().map_or(0.0, f64::from);
    let sustained_text =
        |run: &BackendRun| match run.ramp.steps.iter().take_while(|s| s.passed()).last() {
            Some(step) => format!(
                "{}/s (text->reply p99 {:.0} ms)",
                thousands(f64::from(step.rate)),
                step.reply_p99_ms
            ),
            None => format!("below {}/s", RAMP_RATES[0]),
        };
    out.push(row(
        "(b) sustained answered texts/s, SQLite",
        sustained_text(sqlite),
        BEFORE_SUSTAINED.to_owned(),
        &sustained_aim,
        Some(sustained(sqlite) >= AIM_SUSTAINED),
    ));
    match postgres {
        Ok(pg) => {
            out.push(row(
                "(b) sustained answered texts/s, PostgreSQL",
                sustained_text(pg),
                String::new(),
                &sustained_aim,
                Some(sustained(pg) >= AIM_SUSTAINED),
            ));
            let ratio = sustained(pg) / sustained(sqlite);
            out.push(row(
                "(c) sustained, PostgreSQL / SQLite",
                if ratio.is_finite() {
                    format!("{ratio:.2}x")
                } else {
                    "-".to_owned()
                },
                format!(
                    "{} vs {}",
                    thousands(sustained(pg)),
                    thousands(sustained(sqlite))
                ),
                &format!(">= {AIM_PG_TO_SQLITE}x"),
                Some(ratio.is_finite() && ratio >= AIM_PG_TO_SQLITE),
            ));
        }
        Err(why) => out.push(row(
            "(b)/(c) sustained, PostgreSQL",
            not_measured(why),
            String::new(),
            &sustained_aim,
            None,
        )),
    }
    let shared = |w: Option<WritesPerText>, pick: fn(&WritesPerText) -> Option<f64>| {
        w.and_then(|w| pick(&w))
            .map_or_else(|| "not counted".to_owned(), |v| format!("{v:.2}"))
    };
    let transactions: fn(&WritesPerText) -> Option<f64> = |w| Some(w.transactions);
    let statements: fn(&WritesPerText) -> Option<f64> = |w| w.statements;
    let one =
        format!("{SEQUENTIAL_TEXTS} texts one at a time, their 3 delivery callbacks each included");
    out.push(counted_row(
        "(d) SQLite write transactions / answered text",
        sqlite.ramp.sequential.map(|w| w.transactions),
        format!(
            "{one} ({} write jobs); shared commits: over the ramp {}, the 1,000-text burst {}",
            shared(sqlite.ramp.sequential, |w| w.write_jobs),
            shared(sqlite.ramp.writes, transactions),
            shared(report.writes, transactions),
        ),
        AIM_SQLITE_TRANSACTIONS,
    ));
    match postgres {
        Ok(pg) => {
            out.push(counted_row(
                "(d) PostgreSQL statements / answered text",
                pg.ramp.sequential.and_then(|w| w.statements),
                format!(
                    "{one}; over the ramp {}; before issue 18: about 45",
                    shared(pg.ramp.writes, statements)
                ),
                AIM_PG_STATEMENTS,
            ));
            out.push(counted_row(
                "(d) PostgreSQL commits / answered text",
                pg.ramp.sequential.map(|w| w.transactions),
                format!(
                    "{one}; over the ramp {}; before issue 18: about 20",
                    shared(pg.ramp.writes, transactions)
                ),
                AIM_PG_COMMITS,
            ));
        }
        Err(why) => {
            for (figure, aim) in [
                (
                    "(d) PostgreSQL statements / answered text",
                    AIM_PG_STATEMENTS,
                ),
                ("(d) PostgreSQL commits / answered text", AIM_PG_COMMITS),
            ] {
                out.push(row(
                    figure,
                    not_measured(why),
                    String::new(),
                    &format!("<= {aim:.0}"),
                    None,
                ));
            }
        }
    }
    out.push(row(
        "(e) resident memory after the load drained",
        format!("{:.1} MiB", report.rss_drained_mib),
        format!(
            "{} texts accepted by the webhook cases{}",
            thousands(report.accepted as f64),
            if report.backlog_drain_s.is_some() {
                ", queue drained"
            } else {
                ", queue NOT drained"
            }
        ),
        &format!("< {AIM_DRAINED_RSS_MIB:.0} MiB"),
        Some(report.backlog_drain_s.is_some() && report.rss_drained_mib < AIM_DRAINED_RSS_MIB),
    ));
    out
}

/// The table: one line per figure, its baseline on the next.
pub(crate) fn print_table(report: &Report) {
    println!("Issue 18 figures, same run (baselines indented below each figure)");
    println!("{:<48} {:<34} {:<34} verdict", "figure", "measured", "aim");
    for r in rows(report) {
        println!(
            "{:<48} {:<34} {:<34} {}",
            r.figure,
            r.measured,
            r.aim,
            verdict_text(r.met)
        );
        if !r.baseline.is_empty() {
            println!("      {}", r.baseline);
        }
    }
}

/// Part (a): the held gateway next to the store alone.
pub(crate) fn print_ack_path(report: &Report) {
    println!(
        "Ack path alone ({ACK_CONNECTIONS} connections): gateway with its pump held ({HOLD_PUMP_ENV}=1) vs the store alone ({ACK_CONNECTIONS} producers calling enqueue in this process, fresh store) vs bare axum"
    );
    println!(
        "{:<10} {:<16} {:>10} {:>9} {:>9} {:>10}  ratio",
        "backend", "case", "acks/s", "p50 ms", "p99 ms", "errors"
    );
    let bare = bare_16(report);
    let print_run = |name: &str, run: &BackendRun| {
        for (case, r) in [
            ("store alone", &run.ack.store_only),
            ("gateway held", &run.ack.gateway),
        ] {
            let ratio = if case == "gateway held" {
                format!(
                    "{:.2} of the store alone{}",
                    run.ack.ratio_to_store(),
                    bare.map_or_else(String::new, |b| format!(
                        ", {:.3} of bare axum ({}/s)",
                        r.rps / b.rps,
                        thousands(b.rps)
                    ))
                )
            } else {
                String::new()
            };
            println!(
                "{:<10} {:<16} {:>10.0} {:>9.2} {:>9.2} {:>10}  {ratio}",
                name,
                case,
                r.rps,
                r.p50_ms,
                r.p99_ms,
                errors_text(&r.errors)
            );
        }
    };
    print_run("sqlite", &report.backends.sqlite);
    match &report.backends.postgres {
        Ok(pg) => print_run("postgres", pg),
        Err(why) => println!("postgres   not measured: {why}"),
    }
}

/// Part (b): each backend's ramp, step by step, and (d) its counts.
pub(crate) fn print_ramps(report: &Report) {
    println!(
        "Sustained end to end: stepped ramp, open loop over {RAMP_CONNECTIONS} connections, {} s per step, echo agent, replies to the simulator",
        STEP.as_secs()
    );
    println!(
        "  pass = accepted >= {:.0}% of offered, every text answered within {} s of the step's end, queue flat (from a third of the step to its end it grows by <= {:.0}% of the texts offered meanwhile, or {GROWTH_SLACK}) and <= {} s of the rate at the end; latencies from when each text was due; text->reply from 1 text in {TRACE_EVERY} (tracer phones)",
        (1.0 - ACCEPT_TOLERANCE) * 100.0,
        GRACE.as_secs(),
        GROWTH_LIMIT * 100.0,
        QUEUE_LIMIT.as_secs()
    );
    let print_run = |name: &str, run: &BackendRun| {
        run.ramp.print(name);
        let describe =
            |w: Option<WritesPerText>| w.map_or_else(|| "not counted".to_owned(), |w| w.describe());
        println!(
            "{:<9} store writes per answered text (acknowledgements included, counted): {SEQUENTIAL_TEXTS} texts one at a time before the ramp: {}",
            "",
            describe(run.ramp.sequential)
        );
        println!(
            "{:<9} over the ramp (commits shared by concurrent texts): {}",
            "",
            describe(run.ramp.writes)
        );
    };
    print_run("sqlite", &report.backends.sqlite);
    match &report.backends.postgres {
        Ok(pg) => print_run("postgres", pg),
        Err(why) => println!("postgres  not measured: {why}"),
    }
}

/// The new parts' JSON, merged into the report's.
pub(crate) fn json(report: &Report) -> Value {
    let b = &report.backends;
    let bare = bare_16(report).map(|r| r.rps);
    let pg_or = |f: &dyn Fn(&BackendRun) -> Value| match &b.postgres {
        Ok(pg) => f(pg),
        Err(why) => json!({ "not_measured": why }),
    };
    json!({
        "ack_path_alone": {
            "connections": ACK_CONNECTIONS,
            "switch": format!("{HOLD_PUMP_ENV}=1"),
            "sqlite": b.sqlite.ack.json(bare),
            "postgres": pg_or(&|pg| pg.ack.json(bare)),
            "postgres_to_sqlite_ratio": b.postgres.as_ref().ok().map(|pg| pg.ack.gateway.rps / b.sqlite.ack.gateway.rps),
            "aim_ratio_to_store_only": AIM_ACK_TO_STORE,
            "aim_p99_ms": AIM_ACK_P99_MS,
        },
        "sustained_ramp": {
            "rates": RAMP_RATES,
            "step_s": STEP.as_secs_f64(),
            "connections": RAMP_CONNECTIONS,
            "trace_every": TRACE_EVERY,
            "grace_s": GRACE.as_secs_f64(),
            "accept_tolerance": ACCEPT_TOLERANCE,
            "queue_limit_s": QUEUE_LIMIT.as_secs_f64(),
            "queue_growth_limit": GROWTH_LIMIT,
            "queue_growth_slack": GROWTH_SLACK,
            "texts_one_at_a_time": SEQUENTIAL_TEXTS,
            "sqlite": b.sqlite.ramp.json(),
            "postgres": pg_or(&|pg| pg.ramp.json()),
            "postgres_to_sqlite_ratio": b.postgres.as_ref().ok().map(|pg| {
                f64::from(pg.ramp.sustained().unwrap_or(0)) / f64::from(b.sqlite.ramp.sustained().unwrap_or(0))
            }).filter(|r| r.is_finite()),
        },
        "memory": {
            "aim_after_drain_rss_mib": AIM_DRAINED_RSS_MIB,
        },
        "issue18_figures": rows(report).iter().map(|r| json!({
            "figure": r.figure,
            "measured": r.measured,
            "baseline": r.baseline,
            "aim": r.aim,
            "met": r.met,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(value: f64, expected: &str) {
        assert_eq!(thousands(value), expected, "{value}");
    }

    #[test]
    fn thousands_are_separated() {
        check(0.0, "0");
        check(999.4, "999");
        check(1_000.0, "1,000");
        check(12_345.6, "12,346");
        check(1_234_567.0, "1,234,567");
        check(-4_500.0, "-4,500");
        check(f64::NAN, "-");
    }
}
