//! The built-in echo agent: answers with what it was sent. The default when no model is
//! configured, so the whole channel can be tried without a model.

use async_trait::async_trait;
use openclaw_sms::{Agent, AgentError, AgentReply, AgentTurn};

/// Echoes each message back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EchoAgent;

#[async_trait]
impl Agent for EchoAgent {
    fn name(&self) -> &str {
        "echo"
    }

    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        Ok(AgentReply {
            text: format!("Echo: {}", turn.text),
        })
    }
}
