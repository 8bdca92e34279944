namespace Skein.Bookstore.Roles;

/// <summary>One role of the bookstore binary: the endpoints it serves besides the common ones.</summary>
internal interface IRole
{
    void MapEndpoints(IEndpointRouteBuilder endpoints);
}
