//! Starting the simulator and the handle that drives it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{SimConfig, WebhookMethod};
use crate::error::RunSimulatorError;
use crate::faults::{FaultCounts, Faults};
use crate::model::{OptOut, SimMessage, StatusCallbackRecord};
use crate::phone::Phone;
use crate::state::{Shared, State};
use crate::{api, control};

/// The entry point: [`Simulator::start`].
#[derive(Debug)]
pub enum Simulator {}

impl Simulator {
    /// Validates `config`, binds `127.0.0.1` (the configured port, or a free one) and serves
    /// the Twilio API and the `/_sim` control API until the handle is dropped or shut down.
    /// Must be called inside a Tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimHandle, RunSimulatorError> {
        let state = State::from_config(&config, SystemTime::now())?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RunSimulatorError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| RunSimulatorError::Bind { addr, source })?;
        let http = reqwest::Client::builder()
            // Webhooks go to local servers: never through a proxy from the environment.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RunSimulatorError::InvalidConfig(format!("HTTP client: {e}")))?;
        let shared = Arc::new(Shared::new(state, &config, format!("http://{addr}"), http));
        let app = api::router()
            .merge(control::router())
            .fallback(api::not_found)
            .with_state(Arc::clone(&shared));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        tracing::info!(%addr, "twilio simulator listening");
        Ok(SimHandle {
            shared,
            addr,
            stop: Some(stop_tx),
            server,
        })
    }
}

/// A running simulator. Dropping it stops the server (pending callbacks still finish).
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl SimHandle {
    /// The bound address (always on 127.0.0.1).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the base URL to give a Twilio client for both the
    /// `api.twilio.com` and `messaging.twilio.com` paths.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// A simulated phone with this E.164 number.
    pub fn phone(&self, number: &str) -> Result<Phone, RunSimulatorError> {
        Phone::new(Arc::clone(&self.shared), number)
    }

    /// Every message recorded (inbound, API-created, Twilio's own replies), oldest first.
    #[must_use]
    pub fn messages(&self) -> Vec<SimMessage> {
        self.shared.lock().messages.clone()
    }

    /// One message by SID.
    #[must_use]
    pub fn message(&self, sid: &str) -> Option<SimMessage> {
        self.shared.lock().message(sid).cloned()
    }

    /// Every status callback sent so far, in the order they completed.
    #[must_use]
    pub fn status_callbacks(&self) -> Vec<StatusCallbackRecord> {
        self.shared.lock().callbacks.clone()
    }

    /// Waits until at least `count` status callbacks have been sent (or `timeout` passed) and
    /// returns all of them, in the order they completed.
    pub async fn wait_for_status_callbacks(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<StatusCallbackRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.callback_recorded.notified();
            tokio::pin!(notified);
            // Register before looking, so a callback recorded in between still wakes us.
            notified.as_mut().enable();
            let callbacks = self.status_callbacks();
            if callbacks.len() >= count {
                return callbacks;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.status_callbacks();
            }
        }
    }

    /// The blocked (phone, sender) pairs.
    #[must_use]
    pub fn opt_outs(&self) -> Vec<OptOut> {
        self.shared.lock().opt_outs.iter().cloned().collect()
    }

    /// The current fault knobs.
    #[must_use]
    pub fn faults(&self) -> Faults {
        self.shared.lock().faults.faults.clone()
    }

    /// Replaces the fault knobs (the RNG and the counters carry on).
    pub fn set_faults(&self, faults: Faults) -> Result<(), RunSimulatorError> {
        faults
            .validate()
            .map_err(RunSimulatorError::InvalidConfig)?;
        self.shared.lock().faults.faults = faults;
        Ok(())
    }

    /// How many create requests were seen and faulted.
    #[must_use]
    pub fn fault_counts(&self) -> FaultCounts {
        self.shared.lock().faults.counts
    }

    /// Changes an owned number's `sms_url`/`sms_method` (e.g. once the gateway's port is known).
    pub fn set_number_webhook(
        &self,
        number: &str,
        sms_url: Option<String>,
        method: WebhookMethod,
    ) -> Result<(), RunSimulatorError> {
        set_number_webhook(&self.shared, number, sms_url, method)
    }

    /// Stops the server and waits for it to finish answering.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.abort();
    }
}

pub(crate) fn set_number_webhook(
    shared: &Shared,
    number: &str,
    sms_url: Option<String>,
    method: WebhookMethod,
) -> Result<(), RunSimulatorError> {
    let mut state = shared.lock();
    let n = state
        .accounts
        .iter_mut()
        .flat_map(|a| a.numbers.iter_mut())
        .find(|n| n.number == number)
        .ok_or_else(|| RunSimulatorError::UnknownNumber(number.to_owned()))?;
    n.sms_url = sms_url;
    n.sms_method = method;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn handles_cross_tasks() {
        assert_send_sync::<SimHandle>();
        assert_send_sync::<Phone>();
        assert_send_sync::<RunSimulatorError>();
    }
}
