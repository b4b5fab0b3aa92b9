//! Tessera's web UI.
//!
//! The Leptos application (builder, workspace, admin) is the subject of the web-UI issue.
//! Until it lands, the server shows this landing page at `/`, which says what is there
//! today: the REST API and its OpenAPI document.

/// The page served at `/` (zh-CN and English).
pub const LANDING_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tessera</title>
<style>
body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; color: #1f2933; }
code { background: #f0f4f8; padding: .1rem .3rem; border-radius: 3px; }
</style>
</head>
<body>
<h1>Tessera</h1>
<p>Forms, records and data standards for your business — served by this node.</p>
<p lang="zh-CN">表单、记录与数据标准 —— 由本节点提供服务。</p>
<ul>
<li>REST API: <code>/api/v1</code> — <a href="/api/v1/openapi.json">OpenAPI 3.1</a></li>
<li>Health / 健康检查: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a></li>
</ul>
<p>The web workspace is on its way; until then, use the API. / 网页工作台即将推出，目前请使用 API。</p>
</body>
</html>
"#;
