//! The "SMS Gateway for Android" app's local server API: `POST /messages` with Basic auth
//! (409 for an id it has already), `GET /messages/{id}` for a message's state, `GET /health`.

use super::{Accepted, Gateway, GatewayError, PhoneState, detail, refused, unreachable};
use crate::secret::SecretString;
use crate::services::campaigns::settings::GatewayKind;
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

/// The driver.
pub struct AndroidGateway {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) username: String,
    pub(super) password: Option<SecretString>,
}

/// `GET /messages/{id}`, the part we read.
#[derive(Debug, Deserialize)]
struct MessageState {
    state: String,
    #[serde(default)]
    recipients: Vec<RecipientState>,
}

#[derive(Debug, Deserialize)]
struct RecipientState {
    #[serde(default)]
    error: Option<String>,
}

impl AndroidGateway {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(
                &self.username,
                self.password.as_ref().map(SecretString::expose),
            )
    }

    /// The state of a message the phone already has.
    async fn state(&self, id: &str) -> Result<PhoneState, GatewayError> {
        let response = self
            .request(reqwest::Method::GET, &format!("/messages/{id}"))
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        let state: MessageState = response
            .json()
            .await
            .map_err(|_| GatewayError::Rejected("an unreadable message state".to_owned()))?;
        Ok(match state.state.as_str() {
            "Sent" => PhoneState::Sent,
            "Delivered" => PhoneState::Delivered,
            "Failed" => PhoneState::Failed(detail(
                state
                    .recipients
                    .iter()
                    .find_map(|r| r.error.as_deref())
                    .unwrap_or("failed on the phone"),
            )),
            _ => PhoneState::Pending,
        })
    }
}

#[async_trait]
impl Gateway for AndroidGateway {
    fn kind(&self) -> GatewayKind {
        GatewayKind::AndroidSmsGateway
    }

    async fn send(&self, id: &str, phone: &str, text: &str) -> Result<Accepted, GatewayError> {
        let response = self
            .request(reqwest::Method::POST, "/messages")
            .json(&json!({
                "id": id,
                "textMessage": {"text": text},
                "phoneNumbers": [phone],
                "withDeliveryReport": true,
            }))
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Accepted::New);
        }
        if status == reqwest::StatusCode::CONFLICT {
            // A resend of an id it has: what happened to it is the truth to record.
            return Ok(Accepted::Known(self.state(id).await.ok()));
        }
        Err(refused(response).await)
    }

    async fn probe(&self) -> Result<String, GatewayError> {
        let response = self
            .request(reqwest::Method::GET, "/health")
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(format!("answered HTTP {}", status.as_u16()))
        } else {
            Err(refused(response).await)
        }
    }
}
