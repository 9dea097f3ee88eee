//! A command agent: runs a program per turn with the turn as JSON on stdin and takes its stdout
//! as the reply. A way to plug in any agent without writing Rust.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use openclaw_sms::{Agent, AgentError, AgentReply, AgentTurn};
use openclaw_twilio::escape::Escaped;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Largest reply (stdout) accepted from the program.
const MAX_OUTPUT_BYTES: u64 = 1024 * 1024;
/// Largest part of stderr kept for the log.
const MAX_STDERR_LOG: u64 = 4096;

/// Runs `command[0]` with `command[1..]` as arguments; no shell.
#[derive(Debug)]
pub(crate) struct CommandAgent {
    command: Vec<String>,
    timeout: Duration,
    name: String,
}

impl CommandAgent {
    pub(crate) fn new(command: Vec<String>, timeout: Duration) -> anyhow::Result<Self> {
        let program = command.first().map(String::as_str).unwrap_or_default();
        if !Path::new(program).is_absolute() {
            anyhow::bail!(
                "command[0] must be an absolute path (no shell is used), got \"{program}\""
            );
        }
        let name = format!("command:{program}");
        Ok(Self {
            command,
            timeout,
            name,
        })
    }
}

#[async_trait]
impl Agent for CommandAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        let input = serde_json::to_vec(turn)
            .map_err(|e| AgentError::new(format!("encode turn: {e}"), false))?;
        let mut child = tokio::process::Command::new(&self.command[0])
            .args(&self.command[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| AgentError::new(format!("run {}: {e}", self.command[0]), true))?;
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let run = async {
            if let Some(stdin) = stdin.as_mut() {
                // A program that does not read its input is judged by its output.
                let _ = stdin.write_all(&input).await;
            }
            drop(stdin.take());
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(s) = stdout.as_mut() {
                    let _ = s.take(MAX_OUTPUT_BYTES + 1).read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(s) = stderr.as_mut() {
                    let _ = s.take(MAX_STDERR_LOG).read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        let (status, out, err) = tokio::time::timeout(self.timeout, run).await.map_err(|_| {
            AgentError::new(
                format!(
                    "{} did not answer within {} ms",
                    self.command[0],
                    self.timeout.as_millis()
                ),
                true,
            )
        })?;
        if !err.is_empty() {
            tracing::info!(agent = %self.name, stderr = %Escaped(String::from_utf8_lossy(&err).trim_end()), "agent command wrote to stderr");
        }
        let status = status
            .map_err(|e| AgentError::new(format!("wait for {}: {e}", self.command[0]), true))?;
        if !status.success() {
            return Err(AgentError::new(
                format!("{} exited with {status}", self.command[0]),
                false,
            ));
        }
        if out.len() as u64 > MAX_OUTPUT_BYTES {
            return Err(AgentError::new(
                format!(
                    "{} printed more than {MAX_OUTPUT_BYTES} bytes",
                    self.command[0]
                ),
                false,
            ));
        }
        let text = String::from_utf8(out).map_err(|_| {
            AgentError::new(format!("{} printed invalid UTF-8", self.command[0]), false)
        })?;
        Ok(AgentReply {
            text: text.trim_end().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line of a shell script with `body`. The script is run by `/bin/sh`, not
    /// executed itself: a file just written can still be open for writing in a child that
    /// another test is forking at that moment, and executing it then fails with ETXTBSY.
    fn script(dir: &Path, body: &str) -> Vec<String> {
        let path = dir.join("agent.sh");
        std::fs::write(&path, format!("{body}\n")).unwrap();
        vec!["/bin/sh".to_owned(), path.to_str().unwrap().to_owned()]
    }

    fn turn() -> AgentTurn {
        AgentTurn {
            channel: "sms".into(),
            account_id: "default".into(),
            sender: "+15557654321".into(),
            message_id: "SM1".into(),
            text: "ping".into(),
            media: vec![],
            history: vec![],
            received_at_ms: 7,
        }
    }

    #[tokio::test]
    async fn gets_the_turn_on_stdin_and_answers_with_stdout() {
        let dir = tempfile::tempdir().unwrap();
        // Answer with the JSON it was given, so the test sees exactly what was sent.
        let cmd = script(dir.path(), "cat; echo 'note' >&2");
        let agent = CommandAgent::new(cmd, Duration::from_secs(5)).unwrap();
        let reply = agent.reply(&turn()).await.unwrap();
        let sent: serde_json::Value = serde_json::from_str(&reply.text).unwrap();
        assert_eq!(sent["text"], "ping");
        assert_eq!(sent["sender"], "+15557654321");
        assert_eq!(sent["receivedAtMs"], 7);
    }

    #[tokio::test]
    async fn exit_codes_and_timeouts_fail() {
        let dir = tempfile::tempdir().unwrap();
        let fails =
            CommandAgent::new(script(dir.path(), "exit 4"), Duration::from_secs(5)).unwrap();
        let err = fails.reply(&turn()).await.unwrap_err();
        assert!(err.to_string().contains("exited with"), "{err}");
        assert!(!err.is_retryable());
        let dir2 = tempfile::tempdir().unwrap();
        let hangs =
            CommandAgent::new(script(dir2.path(), "sleep 30"), Duration::from_millis(200)).unwrap();
        let err = hangs.reply(&turn()).await.unwrap_err();
        assert!(
            err.to_string().contains("did not answer within 200 ms"),
            "{err}"
        );
        assert!(err.is_retryable());
    }
}
