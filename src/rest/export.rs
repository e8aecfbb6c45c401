//! `GET /api/usage/export`: the download of an export, by JWT or by a signed link token.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::Utc;

use crate::app::{AppState, RangeNames};
use crate::error::{AppError, AppResult};
use crate::export::{ExportFormat, ExportRequest, SectionSet};
use crate::reports;
use crate::usage::range::parse_date;

const REST_RANGE: RangeNames = RangeNames {
    start: "start_date",
    end: "end_date",
    time_zone: "time_zone",
};

/// The query parameters, each at most once.
#[derive(Debug, Default)]
struct ExportParams {
    start_date: Option<String>,
    end_date: Option<String>,
    format: Option<String>,
    include: Option<String>,
    time_zone: Option<String>,
    token: Option<String>,
}

fn parse_params(query: Option<&str>) -> AppResult<ExportParams> {
    let mut params = ExportParams::default();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match name.as_ref() {
            "start_date" => &mut params.start_date,
            "end_date" => &mut params.end_date,
            "format" => &mut params.format,
            "include" => &mut params.include,
            "time_zone" => &mut params.time_zone,
            "token" => &mut params.token,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(AppError::invalid(
                name.as_ref(),
                format!("{name} is given more than once"),
            ));
        }
    }
    Ok(params)
}

/// Validates the parameters into an export request (without looking at who asks).
fn export_request(state: &AppState, params: &ExportParams) -> AppResult<ExportRequest> {
    let date = |value: &Option<String>, name: &str| -> AppResult<Option<chrono::NaiveDate>> {
        value
            .as_deref()
            .map(|text| {
                parse_date(text)
                    .map_err(|message| AppError::invalid(name, format!("{name}: {message}")))
            })
            .transpose()
    };
    let start = date(&params.start_date, "start_date")?;
    let end = date(&params.end_date, "end_date")?;
    let format = match params.format.as_deref() {
        None => ExportFormat::Csv,
        Some(text) => ExportFormat::parse(text)
            .map_err(|message| AppError::invalid("format", format!("format: {message}")))?,
    };
    let sections = match params.include.as_deref() {
        None => SectionSet::all(),
        Some(text) => SectionSet::parse_list(text)
            .map_err(|message| AppError::invalid("include", format!("include: {message}")))?,
    };
    let range =
        state
            .services
            .resolve_range(start, end, params.time_zone.as_deref(), &REST_RANGE)?;
    Ok(ExportRequest {
        format,
        sections,
        range,
    })
}

/// Serves the export as a file download.
pub async fn download_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let params = parse_params(query.as_deref())?;
    // Who asks is settled first: a bad token is 401 whatever the other parameters say.
    let now = Utc::now();
    let request = export_request(&state, &params);
    let sub = match &params.token {
        Some(token) => {
            let request = request.as_ref().map_err(|_| AppError::Unauthenticated)?;
            state
                .services
                .links
                .verify(token, request, now)
                .map_err(|_| AppError::Unauthenticated)?
        }
        None => {
            state
                .authenticate(&headers)
                .await
                .ok_or(AppError::Unauthenticated)?
                .sub
        }
    };
    let request = request?;
    let user = state.services.user(&sub).await?;
    let rendered = reports::render_export(&state.services, user, &request, now).await?;
    let disposition = format!(
        "attachment; filename=\"{0}\"; filename*=UTF-8''{0}",
        rendered.filename
    );
    let mut response = Response::new(Body::from(rendered.bytes));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(AppError::internal)?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
