//! Live WebSocket connections as API Gateway holds them: posting frames to a socket
//! (`POST /@connections/{id}`) and closing one (`DELETE /@connections/{id}`) through the
//! management API, exactly as in AWS; the local gateway implements the same API. Any function
//! that must end sockets (deactivation, logout) uses [`Poster`] through the
//! [`SocketCloser`] seam of its `AppState`.

use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;
use serde::Serialize;
use std::sync::OnceLock;
use thanotopolis_service::SocketCloser;

/// Where the management API lives.
#[derive(Clone, Debug)]
pub enum ManagementEndpoint {
    /// `https://{domainName}/{stage}` of the event, the usual choice inside AWS.
    FromEvent,
    /// A fixed URL (`WEBSOCKET_MANAGEMENT_ENDPOINT`; the local gateway's own address).
    Fixed(String),
}

impl ManagementEndpoint {
    pub fn from_env() -> Self {
        match thanotopolis_service::config::env("WEBSOCKET_MANAGEMENT_ENDPOINT") {
            Some(url) => ManagementEndpoint::Fixed(url),
            None => ManagementEndpoint::FromEvent,
        }
    }
}

#[derive(Debug)]
pub enum PostError {
    /// 410: the socket is gone; its row should be deleted.
    Gone,
    Failed(String),
}

pub struct Poster {
    sdk: aws_types::SdkConfig,
    endpoint: ManagementEndpoint,
    /// Built on first use: with [`ManagementEndpoint::FromEvent`] the URL is known only then,
    /// and it does not change for the life of the function.
    client: OnceLock<Client>,
}

impl Poster {
    pub fn new(sdk: &aws_types::SdkConfig, endpoint: ManagementEndpoint) -> Self {
        Poster {
            sdk: sdk.clone(),
            endpoint,
            client: OnceLock::new(),
        }
    }

    fn client(&self, event: (Option<&str>, Option<&str>)) -> Result<&Client, PostError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let url = match &self.endpoint {
            ManagementEndpoint::Fixed(url) => url.clone(),
            ManagementEndpoint::FromEvent => match event {
                (Some(domain), Some(stage)) => format!("https://{domain}/{stage}"),
                _ => return Err(PostError::Failed("event has no domain or stage".into())),
            },
        };
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&self.sdk)
            .endpoint_url(url)
            .build();
        Ok(self.client.get_or_init(|| Client::from_conf(conf)))
    }

    /// Sends one frame to one connection. `event` is the (domain name, stage) of the event
    /// being handled, used with [`ManagementEndpoint::FromEvent`].
    pub async fn post(
        &self,
        event: (Option<&str>, Option<&str>),
        connection_id: &str,
        frame: &impl Serialize,
    ) -> Result<(), PostError> {
        let data = serde_json::to_vec(frame).map_err(|e| PostError::Failed(e.to_string()))?;
        let result = self
            .client(event)?
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                PostToConnectionError::GoneException(_) => Err(PostError::Gone),
                other => Err(PostError::Failed(other.to_string())),
            },
        }
    }
}

impl Poster {
    /// Closes one connection; one that is already gone is not an error.
    pub async fn close(
        &self,
        event: (Option<&str>, Option<&str>),
        connection_id: &str,
    ) -> Result<(), PostError> {
        let result = self
            .client(event)?
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                DeleteConnectionError::GoneException(_) => Ok(()),
                other => Err(PostError::Failed(other.to_string())),
            },
        }
    }
}

#[async_trait::async_trait]
impl SocketCloser for Poster {
    async fn close(&self, connection_id: &str) -> Result<(), String> {
        Poster::close(self, (None, None), connection_id)
            .await
            .map_err(|e| match e {
                PostError::Gone => "gone".into(),
                PostError::Failed(m) => m,
            })
    }
}

/// The socket closer of a REST function: a [`Poster`] on `WEBSOCKET_MANAGEMENT_ENDPOINT` (set
/// by the template), or `None` without it (REST events do not name the WebSocket API).
pub fn closer_from_env() -> Result<Option<std::sync::Arc<dyn SocketCloser>>, String> {
    let ManagementEndpoint::Fixed(url) = ManagementEndpoint::from_env() else {
        return Ok(None);
    };
    let sdk = thanotopolis_service::aws::sdk_config(thanotopolis_service::aws::Roots::Aws)?;
    Ok(Some(std::sync::Arc::new(Poster::new(
        &sdk,
        ManagementEndpoint::Fixed(url),
    ))))
}
