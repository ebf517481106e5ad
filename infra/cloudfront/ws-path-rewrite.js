// CloudFront Function (cloudfront-js-2.0), viewer request, on the /api/ws/conversations/*
// behavior. The frontend opens ${NEXT_PUBLIC_WS_URL}/api/ws/conversations/{id}?token=...,
// but an API Gateway WebSocket API takes no path after its stage: the conversation moves
// into the query string (?conversation_id=), replacing any the client sent, and the path
// becomes the stage root. Anything else under the prefix is refused here.
var CONVERSATION = /^\/api\/ws\/conversations\/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\/?$/;

function handler(event) {
  var request = event.request;
  var match = CONVERSATION.exec(request.uri);
  if (!match) {
    return {
      statusCode: 404,
      statusDescription: "Not Found",
      headers: { "content-type": { value: "application/json" } },
      body: { encoding: "text", data: "{\"detail\":\"Not Found\"}" }
    };
  }
  request.uri = "/";
  request.querystring.conversation_id = { value: match[1].toLowerCase() };
  return request;
}
