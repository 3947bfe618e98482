//! [`S3Store`]: any S3-compatible service through aws-sdk-s3 (feature `s3`, on by default;
//! the fuzz targets build without it). Multipart upload above a threshold, retries with
//! backoff and jitter on retryable errors only, and a bucket check at connect time.
//! Conditional writes use `If-None-Match: *` / `If-Match: <etag>` on a single PutObject;
//! a refused precondition (412, or 409 `ConditionalRequestConflict`) is `precondition_failed`.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use akidb_core::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;

use futures_util::StreamExt;

use crate::object_store::*;
use crate::wal::fsync_dir;

/// Parts of one multipart upload sent at the same time.
const PARTS_IN_FLIGHT: usize = 4;

/// Connection settings of an S3-compatible store.
#[derive(Clone)]
pub struct S3Config {
    /// Endpoint URL (e.g. `http://127.0.0.1:8333`); `None` = AWS for the region.
    pub endpoint: Option<String>,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Bucket name (must exist).
    pub bucket: String,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most non-AWS servers.
    pub path_style: bool,
    /// Static access key; with `secret_access_key`. `None` = the standard AWS credential chain.
    pub access_key_id: Option<String>,
    /// Static secret key.
    pub secret_access_key: Option<String>,
    /// Objects larger than this are uploaded in parts (default 16 MiB).
    pub multipart_threshold: u64,
    /// Size of each part (default 8 MiB, at least 5 MiB per S3 rules).
    pub part_size: u64,
    /// Retries after the first attempt for retryable errors (default 3).
    pub max_retries: u32,
    /// First backoff delay; doubles per retry, with full jitter (default 100 ms).
    pub base_backoff: Duration,
    /// Upper bound of one backoff delay (default 5 s).
    pub max_backoff: Duration,
    /// TCP connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Timeout of one attempt of one request (default 60 s).
    pub attempt_timeout: Duration,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl S3Config {
    /// Defaults for `bucket` in `region`, credentials from the AWS chain.
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            endpoint: None,
            region: region.into(),
            bucket: bucket.into(),
            path_style: false,
            access_key_id: None,
            secret_access_key: None,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            max_retries: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

/// An S3-compatible object store (aws-sdk-s3), with its own retry policy.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    config: S3Config,
    attempts: AtomicU64,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("config", &self.config)
            .finish()
    }
}

/// An S3 failure classified for the retry policy.
struct Failure {
    error: Error,
    retryable: bool,
}

fn classify<E>(op: &str, target: &str, err: aws_sdk_s3::error::SdkError<E>) -> Failure
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_string);
    let detail = format!("{}", DisplayErrorContext(&err));
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            let user = matches!(&err, SdkError::DispatchFailure(d) if d.is_user());
            Failure {
                error: if user {
                    object_store_error(format!("S3 {op} {target}: {detail}"))
                } else {
                    Error::object_store_unavailable(format!(
                        "S3 {op} {target}: object store unreachable: {detail}"
                    ))
                },
                retryable: !user,
            }
        }
        SdkError::ServiceError(_) => {
            let s = status.unwrap_or(0);
            let throttled = matches!(
                code.as_deref(),
                Some(
                    "SlowDown"
                        | "Throttling"
                        | "ThrottlingException"
                        | "RequestTimeout"
                        | "InternalError"
                        | "ServiceUnavailable"
                )
            );
            if s == 412
                || (s == 409 && matches!(code.as_deref(), Some("ConditionalRequestConflict")))
            {
                // A conditional request lost: 412 PreconditionFailed, or 409 when another
                // conditional write to the same key was in flight. Not retried here: the
                // caller must re-read the object and decide again.
                Failure {
                    error: Error::precondition_failed(target),
                    retryable: false,
                }
            } else if s >= 500 || s == 429 || throttled {
                Failure {
                    error: Error::object_store_unavailable(format!(
                        "S3 {op} {target}: HTTP {s}: {detail}"
                    )),
                    retryable: true,
                }
            } else if s == 404 && !matches!(code.as_deref(), Some("NoSuchBucket")) {
                Failure {
                    error: object_not_found(target),
                    retryable: false,
                }
            } else {
                Failure {
                    error: object_store_error(format!("S3 {op} {target}: HTTP {s}: {detail}")),
                    retryable: false,
                }
            }
        }
        _ => Failure {
            error: object_store_error(format!("S3 {op} {target}: {detail}")),
            retryable: false,
        },
    }
}

impl S3Store {
    /// One GetObject with retries: the whole body and the ETag the service gave.
    async fn read_object(&self, key: &str) -> Result<(Bytes, Option<String>)> {
        validate_key(key)?;
        self.with_retries(|| async {
            let out = self
                .client
                .get_object()
                .bucket(&self.config.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify("GetObject", key, e))?;
            let etag = out.e_tag().map(str::to_string);
            let data = out
                .body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .map_err(|e| Failure {
                    error: Error::object_store_unavailable(format!(
                        "S3 GetObject {key}: body interrupted: {e}"
                    )),
                    retryable: true,
                })?;
            Ok((data, etag))
        })
        .await
    }

    /// Builds the client and checks the bucket with HeadBucket: a missing bucket, bad
    /// credentials or an unreachable endpoint give a clear error now rather than later.
    pub async fn connect(config: S3Config) -> Result<Self> {
        if config.bucket.is_empty() {
            return Err(Error::invalid(
                "object_store_misconfigured",
                "S3 bucket name is empty",
            ));
        }
        if config.part_size < 5 * 1024 * 1024 {
            return Err(Error::invalid(
                "object_store_misconfigured",
                format!(
                    "S3 part size {} is below the 5 MiB minimum",
                    config.part_size
                ),
            ));
        }
        let store = Self::new_unchecked(config).await?;
        store.check_bucket().await?;
        Ok(store)
    }

    /// Builds the client without contacting the service.
    pub async fn new_unchecked(config: S3Config) -> Result<Self> {
        use aws_sdk_s3::config::{
            retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Credentials, Region,
            RequestChecksumCalculation, ResponseChecksumValidation,
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()));
        match (&config.access_key_id, &config.secret_access_key) {
            (Some(ak), Some(sk)) => {
                loader = loader.credentials_provider(Credentials::new(ak, sk, None, None, "akidb-config"));
            }
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "object_store_misconfigured",
                    "set both the S3 access key id and the secret access key, or neither (AWS credential chain)",
                ))
            }
        }
        let sdk = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(config.path_style)
            // Our own retry loop decides what is retryable (see `with_retries`).
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(config.connect_timeout)
                    .operation_attempt_timeout(config.attempt_timeout)
                    .build(),
            )
            // S3-compatible servers differ in support for trailing checksums; send them only when required.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &config.endpoint {
            builder = builder.endpoint_url(ep);
        }
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            config,
            attempts: AtomicU64::new(0),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The underlying aws-sdk-s3 client (for operations outside the trait).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Number of HTTP request attempts made so far (retries included).
    pub fn request_attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    fn where_(&self) -> String {
        format!(
            "bucket '{}' at {}",
            self.config.bucket,
            self.config.endpoint.as_deref().unwrap_or("AWS")
        )
    }

    async fn check_bucket(&self) -> Result<()> {
        let bucket = self.config.bucket.clone();
        let where_ = self.where_();
        let result = self
            .with_retries(|| async {
                self.client
                    .head_bucket()
                    .bucket(&bucket)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        let status = e.raw_response().map(|r| r.status().as_u16());
                        let mut f = classify("HeadBucket", &bucket, e);
                        f.error = match status {
                            Some(404) => Error::invalid(
                                "object_store_misconfigured",
                                format!("S3 {where_} does not exist: create it or fix AKIDB_S3_BUCKET"),
                            ),
                            Some(401 | 403) => Error::invalid(
                                "object_store_misconfigured",
                                format!("S3 {where_}: access denied; check the credentials (AKIDB_S3_ACCESS_KEY_ID / AKIDB_S3_SECRET_ACCESS_KEY or the AWS chain) and the bucket policy"),
                            ),
                            Some(301) => Error::invalid(
                                "object_store_misconfigured",
                                format!("S3 {where_} lives in another region than '{}': fix AKIDB_S3_REGION", self.config.region),
                            ),
                            _ => f.error,
                        };
                        f
                    })
            })
            .await;
        result
    }

    /// Runs `attempt` until it succeeds, fails with a non-retryable error, or retries run out.
    /// Backoff: `base * 2^n` capped at `max_backoff`, with full jitter.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let mut n = 0u32;
        loop {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(f) if f.retryable && n < self.config.max_retries => {
                    let cap = self
                        .config
                        .base_backoff
                        .saturating_mul(1u32 << n.min(20))
                        .min(self.config.max_backoff);
                    let delay = cap.mul_f64(rand::random::<f64>());
                    tracing::debug!(error = %f.error, attempt = n + 1, ?delay, "retrying S3 request");
                    tokio::time::sleep(delay).await;
                    n += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    async fn put_single(&self, key: &str, data: Bytes) -> Result<()> {
        self.with_retries(|| {
            let data = data.clone();
            async move {
                self.client
                    .put_object()
                    .bucket(&self.config.bucket)
                    .key(key)
                    .body(aws_sdk_s3::primitives::ByteStream::from(data))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("PutObject", key, e))
            }
        })
        .await
    }

    /// One conditional PutObject (`If-None-Match` and/or `If-Match`), never multipart;
    /// returns the new object's ETag.
    ///
    /// Retryable failures (timeouts, 5xx) are retried like every other request. A retried
    /// attempt whose predecessor did reach the service and succeeded (only the answer was
    /// lost) comes back as 412 and so reports `precondition_failed` although our write
    /// landed; that is acceptable because callers treat `precondition_failed` as "re-read
    /// and decide again", and the re-read shows their own write.
    async fn put_conditional(
        &self,
        key: &str,
        data: Bytes,
        if_none_match: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<String> {
        validate_key(key)?;
        let out = self
            .with_retries(|| {
                let data = data.clone();
                async move {
                    self.client
                        .put_object()
                        .bucket(&self.config.bucket)
                        .key(key)
                        .set_if_none_match(if_none_match.map(str::to_string))
                        .set_if_match(if_match.map(str::to_string))
                        .body(aws_sdk_s3::primitives::ByteStream::from(data))
                        .send()
                        .await
                        .map_err(|e| classify("PutObject", key, e))
                }
            })
            .await?;
        out.e_tag().map(str::to_string).ok_or_else(|| {
            object_store_error(format!(
                "S3 PutObject {key} in {}: the service returned no ETag",
                self.where_()
            ))
        })
    }

    /// Multipart upload; `next_part` yields successive parts (None at the end).
    /// Uploads one part of a multipart upload (with retries) and returns its completion record.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        chunk: Bytes,
    ) -> Result<aws_sdk_s3::types::CompletedPart> {
        let etag = self
            .with_retries(|| {
                let chunk = chunk.clone();
                async move {
                    self.client
                        .upload_part()
                        .bucket(&self.config.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(number)
                        .body(aws_sdk_s3::primitives::ByteStream::from(chunk))
                        .send()
                        .await
                        .map_err(|e| classify("UploadPart", key, e))
                }
            })
            .await?
            .e_tag()
            .map(str::to_string);
        Ok(aws_sdk_s3::types::CompletedPart::builder()
            .set_e_tag(etag)
            .part_number(number)
            .build())
    }

    async fn put_multipart<F, Fut>(&self, key: &str, mut next_part: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<Bytes>>>,
    {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let created = self
            .with_retries(|| async {
                self.client
                    .create_multipart_upload()
                    .bucket(&self.config.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| classify("CreateMultipartUpload", key, e))
            })
            .await?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                object_store_error(format!(
                    "S3 CreateMultipartUpload {key}: no upload id returned"
                ))
            })?
            .to_string();
        let result: Result<()> = async {
            // Parts go up concurrently (like boto3's managed transfers); the file is read
            // part by part, so at most PARTS_IN_FLIGHT parts are held in memory.
            let mut in_flight = futures_util::stream::FuturesUnordered::new();
            let mut parts = Vec::new();
            let mut number = 1i32;
            let mut read_all = false;
            loop {
                while !read_all && in_flight.len() < PARTS_IN_FLIGHT {
                    match next_part().await? {
                        Some(chunk) => {
                            in_flight.push(self.upload_part(key, &upload_id, number, chunk));
                            number += 1;
                        }
                        None => read_all = true,
                    }
                }
                match in_flight.next().await {
                    Some(part) => parts.push(part?),
                    None => break,
                }
            }
            parts.sort_by_key(|p: &CompletedPart| p.part_number());
            let completed = CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build();
            self.with_retries(|| {
                let completed = completed.clone();
                let upload_id = upload_id.clone();
                async move {
                    self.client
                        .complete_multipart_upload()
                        .bucket(&self.config.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .multipart_upload(completed)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify("CompleteMultipartUpload", key, e))
                }
            })
            .await
        }
        .await;
        if result.is_err() {
            // Best effort: an abandoned upload only costs storage until the bucket's lifecycle rule.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.config.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        validate_key(key)?;
        if (data.len() as u64) <= self.config.multipart_threshold {
            return self.put_single(key, data).await;
        }
        let part = self.config.part_size as usize;
        let mut offset = 0usize;
        self.put_multipart(key, || {
            let chunk = if offset < data.len() {
                let end = (offset + part).min(data.len());
                let c = data.slice(offset..end);
                offset = end;
                Some(c)
            } else {
                None
            };
            async move { Ok(chunk) }
        })
        .await
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        use tokio::io::AsyncReadExt;
        validate_key(key)?;
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::io(format!("stat {}", path.display()), &e))?;
        if meta.len() <= self.config.multipart_threshold {
            let data = tokio::fs::read(path)
                .await
                .map_err(|e| Error::io(format!("read {}", path.display()), &e))?;
            return self.put_single(key, Bytes::from(data)).await;
        }
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io(format!("open {}", path.display()), &e))?;
        let file = tokio::sync::Mutex::new(file);
        let part = self.config.part_size as usize;
        let file_ref = &file;
        self.put_multipart(key, || async move {
            // Memory stays at one part no matter how large the file is.
            let mut buf = vec![0u8; part];
            let mut filled = 0;
            let mut f = file_ref.lock().await;
            while filled < part {
                let n = f
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| Error::io(format!("read {}", path.display()), &e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(None);
            }
            buf.truncate(filled);
            Ok(Some(Bytes::from(buf)))
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        Ok(self.read_object(key).await?.0)
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        validate_key(key)?;
        let parent = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|e| Error::io(format!("create {}", parent.display()), &e))?;
        let tmp = tmp_name(path);
        let result = self
            .with_retries(|| async {
                let out = self
                    .client
                    .get_object()
                    .bucket(&self.config.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| classify("GetObject", key, e))?;
                let local = |e: std::io::Error| Failure {
                    error: Error::io(format!("write {}", tmp.display()), &e),
                    retryable: false,
                };
                let mut file = tokio::fs::File::create(&tmp).await.map_err(local)?;
                let mut body = out.body;
                loop {
                    match body.try_next().await {
                        Ok(Some(chunk)) => file.write_all(&chunk).await.map_err(local)?,
                        Ok(None) => break,
                        Err(e) => {
                            return Err(Failure {
                                error: Error::object_store_unavailable(format!(
                                    "S3 GetObject {key}: body interrupted: {e}"
                                )),
                                retryable: true,
                            })
                        }
                    }
                }
                file.flush().await.map_err(local)?;
                file.sync_all().await.map_err(local)?;
                Ok(())
            })
            .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, path).await.map_err(|e| {
            Error::io(
                format!("rename {} to {}", tmp.display(), path.display()),
                &e,
            )
        })?;
        blocking(move || fsync_dir(&parent)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .with_retries(|| {
                    let token = token.clone();
                    async move {
                        self.client
                            .list_objects_v2()
                            .bucket(&self.config.bucket)
                            .prefix(prefix)
                            .set_continuation_token(token)
                            .send()
                            .await
                            .map_err(|e| classify("ListObjectsV2", prefix, e))
                    }
                })
                .await?;
            for obj in page.contents() {
                if let Some(key) = obj.key() {
                    out.push(ObjectMeta {
                        key: key.to_string(),
                        size: obj.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(t)) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        self.with_retries(|| async {
            self.client
                .delete_object()
                .bucket(&self.config.bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DeleteObject", key, e))
        })
        .await
        .or_else(|e| {
            if e.code() == "object_not_found" {
                Ok(())
            } else {
                Err(e)
            }
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        validate_key(key)?;
        let result = self
            .with_retries(|| async {
                self.client
                    .head_object()
                    .bucket(&self.config.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| classify("HeadObject", key, e))
            })
            .await;
        match result {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
            })),
            Err(e) if e.code() == "object_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_versioned(&self, key: &str) -> Result<Option<Versioned>> {
        match self.read_object(key).await {
            Ok((data, Some(etag))) => Ok(Some(Versioned { data, etag })),
            Ok((_, None)) => Err(object_store_error(format!(
                "S3 GetObject {key} in {}: the service returned no ETag",
                self.where_()
            ))),
            Err(e) if e.code() == "object_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<String> {
        self.put_conditional(key, data, Some("*"), None).await
    }

    async fn put_if_match(&self, key: &str, data: Bytes, etag: &str) -> Result<String> {
        // AWS answers If-Match on a missing key with 404 NoSuchKey (SeaweedFS with 412):
        // either way the version the caller saw is gone.
        self.put_conditional(key, data, None, Some(etag))
            .await
            .map_err(|e| {
                if e.code() == "object_not_found" {
                    Error::precondition_failed(key)
                } else {
                    e
                }
            })
    }

    fn describe(&self) -> String {
        format!(
            "s3://{}@{}",
            self.config.bucket,
            self.config.endpoint.as_deref().unwrap_or("aws")
        )
    }
}
