var builder = WebApplication.CreateBuilder(args);
builder.Services.AddHealthChecks();

var app = builder.Build();
app.MapGet("/", () => "Contoso");
app.MapHealthChecks("/healthz");
app.Run();
