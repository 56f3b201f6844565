//! Seed 000's own phone API: a small server on the phone in front of `termux-sms-send`,
//! `POST /api/sms/send {"phone","message","id"}` with the device key in `X-API-Key`. The
//! phone reports back on the device routes with the device role. The id is the same on every
//! attempt, so the phone's script can drop a repeat (a 409 is read as "already has it").

use super::{Accepted, Gateway, GatewayError, refused, unreachable};
use crate::secret::SecretString;
use crate::services::campaigns::settings::GatewayKind;
use async_trait::async_trait;
use serde_json::json;

/// The driver.
pub struct TermuxGateway {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) key: Option<SecretString>,
}

impl TermuxGateway {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => request.header("x-api-key", key.expose()),
            None => request,
        }
    }
}

#[async_trait]
impl Gateway for TermuxGateway {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Termux
    }

    async fn send(&self, id: &str, phone: &str, text: &str) -> Result<Accepted, GatewayError> {
        let response = self
            .request(reqwest::Method::POST, "/api/sms/send")
            .json(&json!({"phone": phone, "message": text, "id": id}))
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(Accepted::New)
        } else if status == reqwest::StatusCode::CONFLICT {
            Ok(Accepted::Known(None))
        } else {
            Err(refused(response).await)
        }
    }

    async fn probe(&self) -> Result<String, GatewayError> {
        // Any HTTP answer means the phone's server is up.
        let response = self
            .request(reqwest::Method::GET, "/")
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        Ok(format!("answered HTTP {}", response.status().as_u16()))
    }
}
