//! BuildKit's parser corpus: every case must pass.

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn every_positive_case_parses_like_buildkit() {
    let mut failed = Vec::new();
    let all = cases("testfiles");
    for case in &all {
        let text = std::fs::read_to_string(case.join("Dockerfile")).unwrap();
        let want = std::fs::read_to_string(case.join("result"))
            .unwrap()
            .replace('\r', "");
        match berth_build::parser::parse(&text) {
            Ok(ast) if ast.dump() == want => {}
            Ok(ast) => {
                eprintln!(
                    "FAIL {}\n--- want\n{want}--- got\n{}",
                    case.display(),
                    ast.dump()
                );
                failed.push(case.clone());
            }
            Err(e) => {
                eprintln!("FAIL {}: {e}", case.display());
                failed.push(case.clone());
            }
        }
    }
    eprintln!(
        "corpus: {} of {} positive cases pass",
        all.len() - failed.len(),
        all.len()
    );
    assert!(all.len() >= 33, "corpus missing: {}", all.len());
    assert!(failed.is_empty(), "failing cases: {failed:?}");
}

#[test]
fn every_negative_case_fails() {
    let all = cases("testfiles-negative");
    assert!(all.len() >= 4);
    for case in &all {
        let text = std::fs::read_to_string(case.join("Dockerfile")).unwrap();
        assert!(
            berth_build::parser::parse(&text).is_err(),
            "{} parsed but must fail",
            case.display()
        );
    }
}

#[test]
fn line_numbers() {
    let text = std::fs::read_to_string(corpus().join("testfile-line/Dockerfile")).unwrap();
    let ast = berth_build::parser::parse(&text).unwrap();
    let lines: Vec<(usize, usize)> = ast
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(lines, [(5, 5), (11, 12), (17, 31)]);
}

/// Every prefix of every corpus file (and the file with each line
/// duplicated) goes through the whole front end without panicking.
#[test]
fn truncated_and_mangled_inputs_do_not_panic() {
    let mut texts = Vec::new();
    for dir in ["testfiles", "testfiles-negative"] {
        for case in cases(dir) {
            texts.push(std::fs::read_to_string(case.join("Dockerfile")).unwrap());
        }
    }
    texts.push(
        "# escape=`\nARG A=${B:-x}\nFROM --platform=$BUILDPLATFORM img:${A%%.*} AS one\nRUN <<-EOF 3<<'X' cat\n\tbody $A\n\tEOF\nx\nX\n\
         COPY --from=one <<a.txt /dst/\n${A#*}\na.txt\nRUN --mount=type=cache,target=${A/x/y} [\"a\"]\nFROM one\nWORKDIR ${A:?unset}/`\n  x\n"
            .to_string(),
    );
    let opts = berth_build::BuildOptions::default();
    let mut n = 0;
    for text in &texts {
        let doubled: String = text.lines().flat_map(|l| [l, "\n", l, "\n"]).collect();
        let mut inputs: Vec<&str> = text
            .char_indices()
            .map(|(i, _)| &text[..i])
            .step_by(3)
            .collect();
        inputs.push(&doubled);
        for input in inputs {
            n += 1;
            let _ = berth_build::parser::parse(input);
            if let Ok(df) = berth_build::parse_dockerfile(input) {
                if let Ok(plan) = berth_build::Plan::new(&df, &opts) {
                    for &s in &plan.order {
                        let _ = plan.steps(s, &berth_build::Env::new());
                    }
                }
            }
        }
    }
    assert!(n > 1000);
}
