var app = WebApplication.CreateBuilder(args).Build();
app.MapGet("/orders", () => Array.Empty<string>());
app.Run();
